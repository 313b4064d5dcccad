from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main

from support.files import write_jsonl

BASELINES = ["--model", "baseline-lexicon-exact", "--model", "baseline-lexicon-fuzzy"]


def invoke(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def test_help_and_tasks() -> None:
    assert invoke("--help").exit_code == 0
    result = invoke("tasks")
    assert result.exit_code == 0, result.output
    assert "demo.tumour_detection" in result.output and "4-uro" in result.output


def test_run_suite_with_baselines_then_report(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = invoke("run", "--suite", "demo", *BASELINES, "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    # prompt-free baselines run one variant per task: 3 tasks x 2 models
    assert len(list(out.glob("*/summary.json"))) == 6
    site = tmp_path / "site"
    result = invoke("report", str(out), "--out", str(site))
    assert result.exit_code == 0, result.output
    assert (site / "index.html").exists() and (site / "static" / "table.js").exists()


def test_score_hand_made_outputs(tmp_path: Path, mini_task_file: Path) -> None:
    outputs = write_jsonl(
        tmp_path / "outs.jsonl",
        [
            {"id": "a", "output": "C61"},
            {"id": "b", "output": "Das ist C67.1"},
            {"id": "c", "output": "c34.1"},
            {"id": "d", "output": "keine Ahnung"},
        ],  # e has no output: scored as missing
    )
    result = invoke("score", "--task", str(mini_task_file), "--outputs", str(outputs), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    summary = json.loads(next((tmp_path / "runs").glob("*/summary.json")).read_text(encoding="utf-8"))
    m = summary["metrics"]
    # exact: a, c = 2/5; partial: a, b, c = 3/5; malformed: d = 1/5; missing e counts as error: 1/5
    assert m["accuracy"]["value"] == pytest.approx(2 / 5)
    assert m["partial_accuracy"]["value"] == pytest.approx(3 / 5)
    assert m["p_malformed"]["value"] == pytest.approx(1 / 5)
    assert m["p_error"]["value"] == pytest.approx(1 / 5)
    assert m["accuracy_wellformed"]["value"] == pytest.approx(2 / 3)
    assert summary["status_counts"] == {"malformed": 1, "missing": 1, "ok": 3}
    assert "accuracy" in result.output and "0.400" in result.output


def test_score_detection_by_row_index(tmp_path: Path, mini_tasks: Path) -> None:
    outputs = write_jsonl(
        tmp_path / "det.jsonl",
        [{"id": 0, "output": '["Prostatakarzinom"]'}, {"id": 1, "output": "[]"}, {"id": 2, "output": "[]"},
         {"id": 3, "output": '["Nierenzellkarzinom"]'}, {"id": 4, "output": "nichts"}],
    )
    task = mini_tasks / "mini" / "detection.yaml"
    result = invoke("score", "--task", str(task), "--outputs", str(outputs), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    summary = json.loads(next((tmp_path / "runs").glob("*/summary.json")).read_text(encoding="utf-8"))
    m = summary["metrics"]
    # gold T F T F F; predicted T F F T NA -> correct 0,1 = 2/5; sensitivity 1/2; specificity 1/2
    assert m["accuracy"]["value"] == pytest.approx(2 / 5)
    assert m["sensitivity"]["value"] == pytest.approx(1 / 2)
    assert m["specificity"]["value"] == pytest.approx(1 / 2)
    assert m["p_malformed"]["value"] == pytest.approx(1 / 5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--task", "demo.no_such_task", "--model", "baseline-lexicon-exact"], "unknown task 'demo.no_such_task'"),
        (["run", "--task", "demo.icd10gm_coding", "--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["run", "--task", "demo.icd10gm_coding", "--variant", "9-shot", "--model", "baseline-lexicon-exact"], "unknown variant '9-shot'"),
        (["run", "--task", "demo.icd10gm_coding", "--model", "baseline-lexicon-exact", "--data", "/nonexistent/d.jsonl"], "d.jsonl: dataset file not found"),
        (["score", "--task", "demo.icd10gm_coding", "--outputs", "/nonexistent/o.jsonl"], "o.jsonl: file not found"),
    ],
)
def test_user_errors_exit_2_with_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [*args] + (["--out", str(tmp_path)] if args[0] in ("run", "score") else []))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


def test_malformed_outputs_file_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "dx001", "output": "C61"}\n{"id": "dx002", "output": \n', encoding="utf-8")
    result = CliRunner().invoke(main, ["score", "--task", "demo.icd10gm_coding", "--outputs", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "bad.jsonl: line 2: invalid JSON" in result.output
    unknown = write_jsonl(tmp_path / "unknown.jsonl", [{"id": "zzz", "output": "C61"}])
    result = CliRunner().invoke(main, ["score", "--task", "demo.icd10gm_coding", "--outputs", str(unknown), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "id 'zzz' is not a sample id" in result.output


def test_list_components() -> None:
    for kind in ("metrics", "parsers", "scorers", "runners", "models", "suites"):
        result = invoke("list", kind)
        assert result.exit_code == 0 and result.output.strip(), kind


def test_baseline_that_cannot_answer_is_refused_before_any_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--task", "demo.icd10gm_coding", "--model", "regex-match-same-line",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 2 and "cannot answer icd10gm_code tasks" in result.output
    assert not list(tmp_path.iterdir())
