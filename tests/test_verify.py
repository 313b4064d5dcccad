"""``onkobench verify``: a published result against a maintainer's rerun; the reproduction mark and its column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from harness.cli import main

from test_report import parse

TASK = "demo.icd10gm_coding"
EXACT = "baseline-lexicon-exact"


def run(out: Path, model: str = EXACT, limit: int | None = None, task: str = TASK) -> Path:
    """One run of ``task``, variant 0, into ``out``; returns the run folder."""
    args = ["run", "--task", task, "--variant", "0", "--model", model, "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(main, args + (["--limit", str(limit)] if limit else []), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out / f"{task}--0--{model}"


def publish(folder: Path, out: Path) -> Path:
    result = CliRunner().invoke(main, ["publish", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out / f"{folder.name}.json"


def verify(result_file: Path, rerun: Path) -> Result:
    return CliRunner().invoke(main, ["verify", str(result_file), "--run", str(rerun)])


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def inflate(folder: Path, n: int) -> list[str]:
    """Forge a run: the stored answers of ``n`` wrongly answered items replaced by their targets, then rescored.
    The result published from it is consistent in itself (validate accepts it); only a rerun shows the forgery."""
    scores = [json.loads(line) for line in (folder / "scores.jsonl").read_text(encoding="utf-8").splitlines()]
    forged = {row["key"]: row["target"] for row in scores if not row["values"]["correct"] and row["target"]}
    forged = dict(sorted(forged.items())[:n])
    responses = folder / "responses.jsonl"
    rows = [json.loads(line) for line in responses.read_text(encoding="utf-8").splitlines()]
    responses.write_text("".join(json.dumps({**row, "text": forged.get(row["key"], row["text"])}) + "\n" for row in rows),
                         encoding="utf-8")
    task, variant, model = folder.name.split("--")
    rescored = CliRunner().invoke(main, ["run", "--task", task, "--variant", variant, "--model", model,
                                         "--out", str(folder.parent), "--no-progress"])
    assert rescored.exit_code == 0 and "generated 0" in rescored.output, rescored.output
    return sorted(row["sample_id"] for row in scores if row["key"] in forged)


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """The exact baseline run once and published into tmp_path/results/verify."""
    return publish(run(tmp_path / "submitted"), tmp_path / "results" / "verify")


def test_baseline_rerun_is_reproduced(tmp_path: Path, published: Path) -> None:
    before = load(published)
    run(tmp_path / "rerun")
    run(tmp_path / "rerun", model="baseline-lexicon-fuzzy")  # a second run in the folder: chosen by run id
    result = verify(published, tmp_path / "rerun")
    assert result.exit_code == 0, result.output
    assert f"{TASK}--0--{EXACT}: reproduced: agreement 100.0% of 60 items" in result.output
    after = load(published)
    block = after.pop("reproduction")
    assert before.pop("reproduction", None) is None  # published as self-reported
    assert after == before  # nothing but the block changed
    assert block["reproduced"] is True and block["agreement"] == 1.0 and block["n_compared"] == 60
    assert block["max_metric_difference"] == 0.0 and block["metrics_outside_interval"] == []
    assert set(block["metric_differences"]) == set(before["metric_order"])
    assert block["rerun_run_id"] == before["run_id"] and block["agreement_threshold"] == 0.99
    validate = CliRunner().invoke(main, ["validate", str(published)])
    assert validate.exit_code == 0, validate.output


def test_forged_run_is_not_reproduced(tmp_path: Path) -> None:
    """A result published from a forged run (three wrong answers made right) passes validate; the rerun finds it."""
    submitted = run(tmp_path / "submitted")
    forged = inflate(submitted, 3)
    result_file = publish(submitted, tmp_path / "results" / "verify")
    assert CliRunner().invoke(main, ["validate", str(result_file)]).exit_code == 0
    result = verify(result_file, run(tmp_path / "rerun"))
    assert result.exit_code == 1, result.output
    assert "NOT reproduced: agreement 95.0% of 60 items" in result.output
    assert f"items that differ: {', '.join(forged)}" in result.output
    block = load(result_file)["reproduction"]
    assert block["reproduced"] is False and block["agreement"] == pytest.approx(57 / 60)
    assert block["metric_differences"]["accuracy"] == pytest.approx(-3 / 60, abs=1e-6)
    validate = CliRunner().invoke(main, ["validate", str(result_file)])
    assert validate.exit_code == 0, validate.output  # the verdict is part of the file, not a defect of it


def test_changed_metric_is_not_reproduced(tmp_path: Path, published: Path) -> None:
    """Per-item data intact, the headline number raised beyond the rerun's interval: agreement 1.0, still refused."""
    data = load(published)
    accuracy = data["metrics"]["accuracy"]
    data["metrics"]["accuracy"] = {**accuracy, "value": accuracy["hi"] + 0.05, "hi": min(1.0, accuracy["hi"] + 0.1)}
    write(published, data)
    result = verify(published, run(tmp_path / "rerun"))
    assert result.exit_code == 1 and "outside the rerun's 95% interval" in result.output
    block = load(published)["reproduction"]
    assert block["reproduced"] is False and block["agreement"] == 1.0
    assert block["metrics_outside_interval"] == ["accuracy"]
    assert block["metric_differences"]["accuracy"] == pytest.approx(-(accuracy["hi"] + 0.05 - accuracy["value"]), abs=1e-6)
    assert block["max_metric_difference"] == pytest.approx(accuracy["hi"] + 0.05 - accuracy["value"], abs=1e-6)


@pytest.mark.parametrize(("model", "limit", "named"), [
    ("baseline-lexicon-fuzzy", None, "model_config_hash"),
    (EXACT, 10, "n_samples 60 vs 10"),
])
def test_rerun_of_something_else_is_refused(tmp_path: Path, published: Path, model: str, limit: int | None,
                                            named: str) -> None:
    before = published.read_bytes()
    result = verify(published, run(tmp_path / "rerun", model=model, limit=limit))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {published}: ") and named in lines[0]
    assert "the rerun is not of the same run" in lines[0]
    assert published.read_bytes() == before  # nothing written


def test_not_a_result_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"kind": "something else"}', encoding="utf-8")
    result = verify(other, run(tmp_path / "rerun"))
    assert result.exit_code == 2 and result.output.strip() == f"error: {other}: not a published onkobench result"


def test_site_shows_reproduced_column(tmp_path: Path) -> None:
    """Reproduced, not reproduced, self-reported, and a result edited after its verification; all pass validate."""
    results = tmp_path / "results" / "site"
    reproduced = publish(run(tmp_path / "a"), results)
    assert verify(reproduced, run(tmp_path / "a-rerun")).exit_code == 0
    forged_run = run(tmp_path / "forged", model="baseline-lexicon-fuzzy")
    inflate(forged_run, 2)
    forged = publish(forged_run, results)
    assert verify(forged, run(tmp_path / "a", model="baseline-lexicon-fuzzy")).exit_code == 1
    other_task = "demo.icdo3_topography_coding"
    publish(run(tmp_path / "b", task=other_task), results)  # never verified
    edited = publish(run(tmp_path / "b", model="baseline-lexicon-fuzzy", task=other_task), results)
    assert verify(edited, run(tmp_path / "b-rerun", model="baseline-lexicon-fuzzy", task=other_task)).exit_code == 0
    data = load(edited)
    data["latency"]["seconds_per_item"] /= 10  # edited after verification: the mark no longer holds
    write(edited, data)
    assert CliRunner().invoke(main, ["validate", str(results)]).exit_code == 0

    site = tmp_path / "site"
    built = CliRunner().invoke(main, ["report", str(results), "--out", str(site)])
    assert built.exit_code == 0, built.output
    pages = sorted((site / "tasks").glob("*.html"))  # the per-task tables are on the task pages
    tables = [t for page in pages for t in parse(page).tables if t and "reproduced" in t[0]]
    cells = [" ".join(row[t[0].index("reproduced")].split()) for t in tables for row in t[1:]]
    assert sorted(cells) == ["changed since verified", "not reproduced 96.7% agreement", "reproduced 100.0% agreement",
                             "self-reported"]


@pytest.mark.slow
def test_smollm2_rerun_is_reproduced(tmp_path: Path) -> None:
    """A real model, greedy decoding: two runs of the same config on the same items (8: one batch) agree item by
    item, down to the raw output text (the demo's items mostly come back malformed, so the texts are checked too)."""
    model = "smollm2-135m-instruct-cpu"
    first, second = run(tmp_path / "submitted", model=model, limit=8), run(tmp_path / "rerun", model=model, limit=8)
    submitted = publish(first, tmp_path / "results")
    result = verify(submitted, second)
    assert result.exit_code == 0, result.output
    block = load(submitted)["reproduction"]
    assert block["reproduced"] is True and block["agreement"] == 1.0 and block["n_compared"] == 8
    assert block["max_metric_difference"] == 0.0

    def texts(folder: Path) -> dict[str, str]:
        lines = (folder / "responses.jsonl").read_text(encoding="utf-8").splitlines()
        return {row["sample_id"]: row["text"] for row in map(json.loads, lines)}

    assert len(texts(first)) == 8 and all(texts(first).values()) and texts(first) == texts(second)
