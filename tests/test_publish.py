"""Publishing: small result summaries, per-unit outcomes of the primary metric, never text; validation of results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main

from support.files import write_jsonl


def run_suite(out: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--suite", "demo", "--model", "baseline-lexicon-exact",
                                       "--model", "baseline-lexicon-fuzzy", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output


def published_demo(tmp_path: Path) -> Path:
    """The demo suite run with baselines and published into tmp_path/results/demo."""
    run_suite(tmp_path / "runs")
    results = tmp_path / "results" / "demo"
    assert CliRunner().invoke(main, ["publish", str(tmp_path / "runs"), "--out", str(results)]).exit_code == 0
    return results


def test_publish_writes_summaries_with_unit_outcomes(tmp_path: Path) -> None:
    run_suite(tmp_path / "runs")
    results = tmp_path / "results" / "demo"
    result = CliRunner().invoke(main, ["publish", str(tmp_path / "runs"), "--out", str(results)])
    assert result.exit_code == 0, result.output
    files = sorted(results.glob("*.json"))
    assert len(files) == 6
    published = json.loads(files[0].read_text(encoding="utf-8"))
    assert published["kind"] == "onkobench-result" and "correct" not in published
    units = published["units"]
    assert units["metric"] == published["primary_metric"] == "accuracy" and units["unit"] == "sample"
    assert set(units["outcomes"]) == {item["id"] for item in published["items"]}
    assert {tuple(o) for o in units["outcomes"].values()} <= {(0.0, 1.0), (1.0, 1.0)}
    accuracy = sum(n for n, _ in units["outcomes"].values()) / len(units["outcomes"])
    assert accuracy == pytest.approx(published["metrics"][published["primary_metric"]]["value"], abs=1e-6)
    validate = CliRunner().invoke(main, ["validate", str(results)])
    assert validate.exit_code == 0, validate.output
    # the site builds from published results alone (no run folders)
    site = tmp_path / "site"
    assert CliRunner().invoke(main, ["report", str(results), "--out", str(site)]).exit_code == 0
    assert "published result" in next((site / "runs").glob("*.html")).read_text(encoding="utf-8")


def test_validate_catches_tampered_results(tmp_path: Path) -> None:
    results = published_demo(tmp_path)
    files = sorted(results.glob("*.json"))
    first = json.loads(files[0].read_text(encoding="utf-8"))
    files[0].write_text(json.dumps({**first, "model_config_hash": "0" * 16}), encoding="utf-8")
    second = json.loads(files[1].read_text(encoding="utf-8"))
    second["samples"] = [{"id": "1", "text": "Z.n. RPE bei Prostatakarzinom"}]
    files[1].write_text(json.dumps(second), encoding="utf-8")
    files[2].unlink()
    result = CliRunner().invoke(main, ["validate", str(results)])
    assert result.exit_code == 2
    assert "model_config_hash: does not match" in result.output
    assert "samples.0.text: looks like sample text" in result.output


def test_missing_suite_task_is_reported(tmp_path: Path) -> None:
    results = published_demo(tmp_path)
    next(results.glob("demo.tumour_detection--0--baseline-lexicon-exact.json")).unlink()
    result = CliRunner().invoke(main, ["validate", str(results)])
    assert result.exit_code == 2 and "model baseline-lexicon-exact: missing results for demo.tumour_detection" in result.output


def test_private_data_never_published(tmp_path: Path) -> None:
    """Runs on a private data set (UroLlmEval step 1 schema), with outputs that quote the snippets:
    every written file is searched for the snippet texts."""
    from fake_runner import ScriptedRunner

    from harness.data import load_task_data
    from harness.pipeline.run import run_task_variant
    from harness.pipeline.spec import RunSpec
    from harness.config.models import ModelConfig
    from harness.config.tasks import load_all_tasks

    snippets = [f"Patient {i}: Z.n. RPE bei Prostatakarzinom pT{i % 3 + 1}, ED {2010 + i}." for i in range(6)]
    data_file = write_jsonl(tmp_path / "private.jsonl", [{"text": t, "label": [{"diagnosis": "C61", "date": str(2010 + i)}]}
                                                        for i, t in enumerate(snippets)])
    task = load_all_tasks()["urollmeval.step1"]
    assert task.dataset.private
    data = load_task_data(task, data_file)
    quoting = {str(i): json.dumps([snippets[i]]) for i in range(6)}  # outputs that quote the whole snippet
    config = ModelConfig(name="baseline-lexicon-exact", runner="baseline", options={"method": "lexicon_exact", "lexicon": "x"})
    run_task_variant(RunSpec(task, task.variant("0"), config, data), tmp_path / "runs", lambda: ScriptedRunner(quoting),
                     progress=False)
    out = tmp_path / "results"
    result = CliRunner().invoke(main, ["publish", str(tmp_path / "runs"), "--out", str(out)])
    written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    for path in written:
        content = path.read_text(encoding="utf-8")
        assert not any(snippet in content for snippet in snippets)
        assert str(data_file.parent) not in content
    published = json.loads(written[0].read_text(encoding="utf-8")) if written else None
    assert result.exit_code == 0 and published["dataset"]["source"] == "private.jsonl"


def test_published_data_paths_name_no_folder_of_this_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task folder moved elsewhere (``$ONKOBENCH_TASKS_DIR``) publishes ``tasks/...`` as from the checkout; a local
    copy given with ``--data`` publishes its file name only, private or not (its folder may name a person)."""
    import shutil

    tasks = tmp_path / "home" / "alice" / "tasks"
    shutil.copytree(Path(__file__).resolve().parents[1] / "tasks" / "demo", tasks / "demo")
    monkeypatch.setenv("ONKOBENCH_TASKS_DIR", str(tasks))
    copy = tmp_path / "home" / "alice" / "my-diagnoses.jsonl"
    shutil.copyfile(tasks / "demo" / "data" / "diagnoses.jsonl", copy)
    for name, data in (("moved", []), ("copy", ["--data", str(copy)])):
        runs = tmp_path / "runs" / name
        result = CliRunner().invoke(main, ["run", "--task", "demo.icd10gm_coding", "--variant", "0", "--model",
                                           "baseline-lexicon-exact", *data, "--out", str(runs), "--no-progress"])
        assert result.exit_code == 0, result.output
        out = tmp_path / "results" / name
        assert CliRunner().invoke(main, ["publish", str(runs), "--out", str(out)]).exit_code == 0
        (written,) = out.glob("*.json")
        assert "alice" not in written.read_text(encoding="utf-8")
        source = json.loads(written.read_text(encoding="utf-8"))["dataset"]["source"]
        assert source == ("tasks/demo/data/diagnoses.jsonl" if name == "moved" else "my-diagnoses.jsonl")


def test_publish_refuses_when_text_would_leak(tmp_path: Path, monkeypatch) -> None:
    """If a future field carried an output, the byte-level guard stops publishing instead of writing."""
    import harness.results as publish

    run_suite(tmp_path / "runs")
    original = publish.published_result

    def leaky(folder: Path) -> publish.PublishedResult:
        result = original(folder)
        rows = [json.loads(l) for l in (folder / "responses.jsonl").read_text(encoding="utf-8").splitlines()]
        long = next((r["text"] for r in rows if len(r["text"]) >= publish.MIN_TEXT_CHECK), None)
        # model_copy does not validate: a field that would carry an output, as a bug might add it
        return result.model_copy(update={"dataset": {**result.dataset, "private": True},
                                         "provenance": {**result.provenance, "note": long or ""}})

    monkeypatch.setattr(publish, "published_result", leaky)
    result = CliRunner().invoke(main, ["publish", str(tmp_path / "runs" / "demo.tumour_detection--0--baseline-lexicon-fuzzy"),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "refusing to publish" in result.output
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_result_schema_errors_and_formats_1_and_2(tmp_path: Path) -> None:
    """A result file is checked against PublishedResult (file and field named). A format-1 or 2 file (no per-item
    outcomes) still reads for a local report, but validate refuses it: its metrics cannot be recomputed."""
    from harness.report.pages import load_rows
    from harness.results import RESULT_FORMAT

    results = published_demo(tmp_path)
    files = sorted(results.glob("*.json"))
    first = json.loads(files[0].read_text(encoding="utf-8"))
    assert first["format"] == RESULT_FORMAT == 4 and "model_config" in first and len(first["items"]) == first["n_samples"]
    correct = {item["id"]: int(bool(item["values"].get("correct"))) for item in first["items"]}
    old = {key: value for key, value in first.items() if key not in ("items", "units")} | {"correct": correct}
    for version in (1, 2):
        files[0].write_text(json.dumps({**old, "format": version}), encoding="utf-8")  # the fields as formats 1, 2 wrote them
        result = CliRunner().invoke(main, ["validate", str(results)])
        assert result.exit_code == 2
        assert f"{files[0]}: items: none (a format-1 or 2 result): its metrics cannot be recomputed" in result.output
        elsewhere = tmp_path / "old" / files[0].name  # a local report outside a results folder still reads it
        elsewhere.parent.mkdir(exist_ok=True)
        elsewhere.write_bytes(files[0].read_bytes())
        assert {row.summary.format for row in load_rows([elsewhere.parent])} == {RESULT_FORMAT}
    broken = {key: value for key, value in first.items() if key != "task"} | {"format": 3}
    broken["correct"] = {**correct, "x": 2}
    files[0].write_text(json.dumps(broken), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(results)])
    assert result.exit_code == 2
    assert f"{files[0]}: task: Field required" in result.output
    assert f"{files[0]}: correct: Value error, values must be 0 or 1" in result.output
