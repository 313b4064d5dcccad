"""`onkobench catalogue build-tasks`: seeded, stratified, de-duplicated sets; the lookup baseline; the report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.families.catalogue_qa.build import BFARM_NOTICE, SETS, Candidate, SetReport, deduplicate, stratified_split
from harness.cli import main

from support.files import CATALOGUE_FIXTURES, REPO_ROOT, read_jsonl

FIXTURE_ROOT = CATALOGUE_FIXTURES


def real_root() -> Path | None:
    configured = os.environ.get("ONKOBENCH_CATALOGUE_DIR")
    root = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data" / "catalogues"
    return root if (root / "icd10gm" / "2024").is_dir() else None


needs_real = pytest.mark.skipif(real_root() is None, reason="real catalogue files absent (../shared/data/catalogues)")


def test_dedup_drops_ambiguous_texts() -> None:
    report = SetReport()
    kept = deduplicate(
        [Candidate("Prostatakarzinom", "C61", "s", "1"), Candidate("prostatakarzinom ", "C61", "s", "2"),
         Candidate("Lungenkrebs", "C34.9", "s", "3"), Candidate("Lungenkrebs", "C34.1", "s", "4")],
        report,
    )
    assert [c.source_id for c in kept] == ["1"]
    assert report.dropped == {"duplicate_text": 1, "ambiguous_text": 2} and report.available == 4


def test_split_is_seeded_stratified_and_disjoint() -> None:
    candidates = [Candidate(f"text {i}", f"C{i:02d}", "A" if i < 60 else "B", f"id{i:03d}") for i in range(100)]
    test, shots = stratified_split(candidates, 20, 10, seed=3)
    again, shots_again = stratified_split(list(reversed(candidates)), 20, 10, seed=3)
    assert [c.source_id for c in test] == [c.source_id for c in again]
    assert [c.source_id for c in shots] == [c.source_id for c in shots_again]
    assert not {c.text for c in test} & {c.text for c in shots}
    strata = [c.stratum for c in test]
    assert len(test) == 20 and abs(strata.count("A") - 12) <= 1  # proportional to 60:40 (after the pool)
    other, _ = stratified_split(candidates, 20, 10, seed=4)
    assert [c.source_id for c in other] != [c.source_id for c in test]


def build(root: Path, out: Path, *years: str) -> CliRunner:
    return CliRunner().invoke(main, ["catalogue", "build-tasks", "--catalogues", str(root), "--out", str(out), *years],
                              catch_exceptions=False)


def test_build_from_hand_written_fixtures(tmp_path: Path) -> None:
    years = ["--icd10gm-year", "2099", "--alphaid-year", "2099", "--icdo3-year", "2099", "--ops-year", "2099",
             "--n-test", "6", "--n-fewshot", "2", "--seed", "1"]
    result = build(FIXTURE_ROOT, tmp_path / "a", *years)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["sets"]) == set(SETS) and manifest["notice"] == BFARM_NOTICE
    assert all(s["sha256"] for s in manifest["sources"])
    for name in SETS:
        test = read_jsonl(tmp_path / "a" / name / "test.jsonl")
        shots = read_jsonl(tmp_path / "a" / name / "fewshot.jsonl")
        assert test, name
        assert not {r["text"].casefold() for r in test} & {r["text"].casefold() for r in shots}, name
        assert manifest["sets"][name]["test"] == len(test)
    recognition = read_jsonl(tmp_path / "a" / "tumour_recognition" / "test.jsonl")
    assert {r["is_tumour"] for r in recognition} == {"Ja", "Nein"}
    assert (tmp_path / "a" / ".gitignore").read_text(encoding="utf-8") == "*\n"
    # the same seed gives the same sets
    build(FIXTURE_ROOT, tmp_path / "b", *years)
    for name in SETS:
        for part in ("test.jsonl", "fewshot.jsonl"):
            assert (tmp_path / "a" / name / part).read_bytes() == (tmp_path / "b" / name / part).read_bytes()


def test_missing_generated_set_says_how_to_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.data import load_task_data
    from harness.errors import OnkobenchError
    from harness.config.tasks import load_task_file

    task_file = REPO_ROOT / "tasks" / "icd_catalogue_qa" / "icdo3_topography.yaml"
    task = load_task_file(task_file)
    task = task.model_copy(update={"folder": tmp_path})
    with pytest.raises(OnkobenchError, match="build it with: onkobench catalogue build-tasks"):
        load_task_data(task)


@needs_real
def test_real_catalogues_build_and_run_with_the_lookup_baseline(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    result = build(real_root(), out, "--n-test", "60", "--n-fewshot", "8")
    assert result.exit_code == 0, result.output
    neoplasms = read_jsonl(out / "alphaid_icd10gm_neoplasms" / "test.jsonl")
    assert len(neoplasms) == 60 and all(r["icd10gm_code"][0] in "CD" for r in neoplasms)
    recognition = read_jsonl(out / "tumour_recognition" / "test.jsonl")
    assert sum(r["is_tumour"] == "Ja" for r in recognition) == 30
    runs = tmp_path / "runs"
    for task, set_name in (("icd_catalogue_qa.alphaid_icd10gm_neoplasms", "alphaid_icd10gm_neoplasms"),
                           ("icd_catalogue_qa.icdo3_topography", "icdo3_topography"),
                           ("icd_catalogue_qa.tumour_recognition", "tumour_recognition")):
        result = CliRunner().invoke(main, ["run", "--task", task, "--variant", "0", "--data", str(out / set_name / "test.jsonl"),
                                           "--model", "catalogue-lookup-exact", "--model", "catalogue-lookup-fuzzy",
                                           "--out", str(runs), "--no-progress"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    summary = json.loads((runs / "icd_catalogue_qa.alphaid_icd10gm_neoplasms--0--catalogue-lookup-exact" / "summary.json").read_text(encoding="utf-8"))
    # the texts come from the same index: the exact lookup finds (almost) all of them
    assert summary["metrics"]["accuracy"]["value"] > 0.9
    assert {"p_same_block", "p_hallucinated", "p_several_codes", "p_secondary_neoplasm"} <= set(summary["metrics"])
    site = tmp_path / "site"
    assert CliRunner().invoke(main, ["report", str(runs), "--out", str(site)]).exit_code == 0
    html = (site / "index.html").read_text(encoding="utf-8")
    assert "label-quality ceiling (exact)" in html and "p_hallucinated" in html
