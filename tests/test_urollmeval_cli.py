"""UroLlmEval end to end through the CLI on synthetic data: chain, gold mode, scoring files, schema, packs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.data import load_task_data
from harness.config.prompt_packs import apply_prompt_pack
from harness.prompts import build_requests
from harness.config.tasks import load_all_tasks

from support.files import FIXTURES, REPO_ROOT, read_jsonl, write_jsonl

MINI_SNIPPETS = FIXTURES / "tasks" / "mini" / "data" / "snippets.jsonl"
FAKE_STUDY = FIXTURES / "fake_urollmeval"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def summaries(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*/summary.json")}


def test_chained_demo_suite_and_report(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = invoke("run", "--suite", "urollmeval-demo", "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    runs = summaries(out)
    tasks = {s["task"] for s in runs.values()}
    assert tasks == {"urollmeval.step1", "urollmeval.step2", "urollmeval.step3"}
    step2 = [s for s in runs.values() if s["task"] == "urollmeval.step2"]
    assert {s["upstream"]["tag"] == "gold" for s in step2} == {True, False}
    best = next(s for s in step2 if s["upstream"]["tag"] != "gold")
    assert best["upstream"]["run_id"] == "urollmeval.step1--0--baseline-lexicon-fuzzy"  # the best step-1 run
    site = tmp_path / "site"
    assert invoke("report", str(out), "--out", str(site)).exit_code == 0
    html = (site / "index.html").read_text(encoding="utf-8")
    for step in ("urollmeval.step1", "urollmeval.step2", "urollmeval.step3"):
        assert f">{step}</a>" in html
    assert "on gold inputs" in html
    pages = "".join(page.read_text(encoding="utf-8") for page in (site / "tasks").glob("*.html"))
    assert 'class="published-other"' in pages  # the study's published values listed under the task tables


def test_skipped_queries_are_recorded(tmp_path: Path) -> None:
    data = tmp_path / "snips.jsonl"
    write_jsonl(data, [
        {"text": "Prostatakarzinom, ED unbekannt.", "label": [{"diagnosis": "C61", "date": "0"}]},
        {"text": "Prostatakarzinom ED 03/2019.\nPSA 2021.", "label": [{"diagnosis": "C61", "date": "2019-03"}]},
    ])
    for variant in ("0-dates", "0-verify"):
        result = invoke("run", "--task", "urollmeval.step3", "--variant", variant, "--gold", "--data", str(data),
                        "--model", "regex-match-same-line", "--out", str(tmp_path / variant), "--no-progress")
        assert result.exit_code == 0, result.output
    # the regex baseline ignores prompts, so it ran the first variant given: check the requests instead
    task = load_all_tasks()["urollmeval.step3"]
    from harness.pipeline.chains import ChainSource, chained_data

    base = load_task_data(task, data)
    verify = chained_data(task, task.variant("0-verify"), base, ChainSource(None))
    from harness.config.models import ModelConfig

    requests = build_requests(task, task.variant("0-verify"), verify.samples, ModelConfig(name="m", runner="baseline"))
    assert [(r.sample_id, r.skip_answer, r.query_item) for r in requests] == [
        ("0/0", "Nein", None),
        ("1/0", None, {"diagnosis": "Prostatakarzinom", "date": "03/2019"}),
        ("1/0", None, {"diagnosis": "Prostatakarzinom", "date": "2021"}),
    ]
    responses = {r["sample_id"]: r for r in read_jsonl(next((tmp_path / "0-dates").glob("*/responses.jsonl")))}
    assert responses["0/0"]["finish_reason"] == "skipped_by_rule" and responses["0/0"]["text"] == "Nein"
    assert responses["1/0"]["finish_reason"] == "stop" and responses["1/0"]["text"] == "03/2019"


def test_verify_run_with_scripted_answers(tmp_path: Path) -> None:
    from fake_runner import ScriptedRunner

    from harness.pipeline.chains import ChainSource, chained_data
    from harness.pipeline.run import run_task_variant
    from harness.pipeline.spec import RunSpec
    from harness.config.models import ModelConfig

    data = tmp_path / "snips.jsonl"
    write_jsonl(data, [
        {"text": "Prostatakarzinom, ED unbekannt.", "label": [{"diagnosis": "C61", "date": "0"}]},
        {"text": "Prostatakarzinom ED 03/2019.\nPSA 2021.", "label": [{"diagnosis": "C61", "date": "2019-03"}]},
    ])
    task = load_all_tasks()["urollmeval.step3"]
    base = load_task_data(task, data)
    variant = task.variant("0-verify")
    chained = chained_data(task, variant, base, ChainSource(None))

    class DateRunner(ScriptedRunner):
        def generate(self, requests):
            for request in requests:
                self.seen.append(request.sample_id)
                from harness.records import Response

                yield Response(key=request.key, text="Ja" if request.query_item["date"] == "03/2019" else "Nein")

    spec = RunSpec(task, variant, ModelConfig(name="s", runner="baseline"), chained)
    outcome = run_task_variant(spec, tmp_path, lambda: DateRunner({}), progress=False)
    rows = read_jsonl(outcome.folder / "responses.jsonl")
    assert sorted(r["finish_reason"] or "" for r in rows) == ["", "", "skipped_by_rule"]
    scores = {s["sample_id"]: s for s in read_jsonl(outcome.folder / "scores.jsonl")}
    assert scores["0/0"]["answer"] == "0" and scores["0/0"]["values"]["correct"] == 1  # no candidates -> "0"
    assert scores["1/0"]["answer"] == "2019-03" and scores["1/0"]["values"]["correct"] == 1
    assert outcome.summary.metrics["p_correct_total"].value == pytest.approx(1.0)


def test_score_step2_outputs_by_snippet_and_diagnosis(tmp_path: Path) -> None:
    outputs = write_jsonl(tmp_path / "step2.jsonl", [
        {"id": 0, "diagnosis": "Prostatakarzinom", "output": "C61"},
        {"id": 2, "diagnosis": "Urothelkarzinom", "output": "C67"},
        {"id": 2, "diagnosis": "Prostatakarzinom", "output": "C78"},
        {"id": 3, "diagnosis": "Nierenzellkarzinom", "output": "C64"},
    ])
    result = invoke("score", "--task", "urollmeval.step2", "--data", str(MINI_SNIPPETS), "--outputs", str(outputs), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    (summary,) = summaries(tmp_path / "runs").values()
    m = summary["metrics"]
    # snippet 0 right; 2 misses C61 (C78 is NA); 3 is a false positive coded C64 -> 1/3
    assert m["p_snippets_correct"]["value"] == pytest.approx(1 / 3)
    assert m["p_potentially_correct_diagnoses"]["value"] == pytest.approx(2 / 3)  # C61, C67 right; C64 wrong
    assert m["p_na"]["value"] == pytest.approx(1 / 4) and m["p_C77_79"]["value"] == pytest.approx(1 / 4)
    assert m["p_all_diagnoses_found_in_snippets_with_diagnoses"]["value"] == pytest.approx(1 / 2)


def test_score_step3_outputs(tmp_path: Path) -> None:
    outputs = write_jsonl(tmp_path / "step3.jsonl", [
        {"id": 2, "diagnosis": "Urothelkarzinom der Harnblase", "code": "C67", "output": "03/2020"},
        {"id": 2, "diagnosis": "Prostatakarzinom", "code": "C61", "output": "Nein"},
        {"id": 0, "diagnosis": "Prostatakarzinom", "code": "C61", "output": "weiß nicht"},
        {"id": 3, "diagnosis": "Nierenzellkarzinom", "code": "C64", "output": "2020"},  # no gold label: dropped
    ])
    result = invoke("score", "--task", "urollmeval.step3", "--data", str(MINI_SNIPPETS), "--outputs", str(outputs), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    (summary,) = summaries(tmp_path / "runs").values()
    m = summary["metrics"]
    assert summary["n_samples"] == 3
    assert (m["p_correct_total"]["value"], m["p_correct"]["value"], m["p_na"]["value"]) == pytest.approx((1 / 3, 1 / 2, 1 / 3))
    missing = write_jsonl(tmp_path / "bad.jsonl", [{"id": 2, "diagnosis": "x", "output": "2019"}])
    result = CliRunner().invoke(main, ["score", "--task", "urollmeval.step3", "--data", str(MINI_SNIPPETS), "--outputs", str(missing)])
    assert result.exit_code == 2 and "record 1: needs key(s) code" in result.output


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"text": "x", "label": [{"diagnosis": "C6", "date": "2019"}]}, "row 1: label.0.diagnosis"),
        ({"text": "x", "label": [{"diagnosis": "C61", "date": "03/2019"}]}, "row 1: label.0.date"),
        ({"text": "x", "label": [{"diagnosis": "C61", "date": "0"}, {"diagnosis": "C61", "date": "2019"}]}, "row 1: label: Value error, a code appears twice"),
        ({"text": "", "label": []}, "row 1: text"),
    ],
)
def test_schema_errors_name_row_and_field(tmp_path: Path, row: dict, message: str) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "ok", "label": []}, row])
    result = CliRunner().invoke(main, ["run", "--task", "urollmeval.step1", "--data", str(data),
                                       "--model", "baseline-lexicon-exact", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "d.jsonl" in result.output


def test_chained_task_needs_a_chain(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--task", "urollmeval.step2", "--data", str(MINI_SNIPPETS),
                                       "--model", "baseline-lexicon-exact", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--chain RUN_DIR|best|own-best or --gold" in result.output


def test_import_study_prompts_renders_exactly(tmp_path: Path) -> None:
    from harness.families.urollmeval.prompt_import import _call_builders

    pack = tmp_path / "pack"
    result = invoke("prompts", "import-urollmeval", str(FAKE_STUDY), "--out", str(pack))
    assert result.exit_code == 0, result.output
    assert (pack / ".gitignore").read_text(encoding="utf-8") == "*\n"
    assert "0-dates: left out" in result.output and "regex-match-same-line: left out" in result.output
    tasks = {name: apply_prompt_pack(task, pack) for name, task in load_all_tasks().items() if name.startswith("urollmeval.")}
    snippets = ["Prostatakarzinom {{ nicht }} {% raw %}\nED 2019 – ÄÖÜ", "\n  Z.n. RPE  \n"]
    diagnosis = "Adenokarzinom {# x #}"
    study = _call_builders(FAKE_STUDY, {1: [[s] for s in snippets], 2: [[s, diagnosis] for s in snippets],
                                        3: [[s, diagnosis] for s in snippets]})
    from harness.config.models import ModelConfig
    from harness.data import Sample

    model = ModelConfig(name="m", runner="baseline")
    for step, variants in ((1, ["0", "2-uro", "2-gyn"]), (2, ["0-uro", "0-uro-ctx"]), (3, ["0"])):
        task = tasks[f"urollmeval.step{step}"]
        for variant in variants:
            for index, text in enumerate(snippets):
                sample = Sample("0", {"text": text, "diagnosis": diagnosis}, None)
                (request,) = build_requests(task, task.variant(variant), [sample], model)
                assert list(request.messages) == study[str(step)]["results"][variant][index], (step, variant)
    verify_task = tasks["urollmeval.step3"]
    sample = Sample("0", {"text": "Prostatakarzinom ED 03/2019", "diagnosis": "Prostatakarzinom", "diagnoses": ["Prostatakarzinom"]}, None)
    (request,) = build_requests(verify_task, verify_task.variant("0-verify"), [sample], model)
    assert request.messages[-1]["content"] == "Prostatakarzinom ED 03/2019\nIst 03/2019 das ED-Datum von Prostatakarzinom? 03/2019?"
    assert len(request.messages) == 3


def test_imported_pack_is_not_in_the_repository() -> None:
    tracked = (REPO_ROOT / ".gitignore").read_text(encoding="utf-8")
    assert "prompt-packs/" in tracked


def test_outputs_of_a_multi_query_variant_are_refused(tmp_path: Path) -> None:
    outputs = write_jsonl(tmp_path / "out.jsonl", [{"id": "0", "diagnosis": "Prostatakarzinom", "code": "C61", "output": "Ja"}])
    result = CliRunner().invoke(main, ["score", "--task", "urollmeval.step3", "--variant", "0-verify", "--data", str(MINI_SNIPPETS),
                                       "--outputs", str(outputs), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "several queries" in result.output
    assert not (tmp_path / "runs").exists()
