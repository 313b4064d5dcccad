"""`onkobench catalogue build-tasks`: seeded, stratified, de-duplicated sets; the label rules (topography
codes, tumour recognition by every code of a row, the history rule); a few-shot pool disjoint from the test
split by code; the lookup baseline; the report."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.families.catalogue_qa.build import BFARM_NOTICE, SETS, Candidate, SetReport, deduplicate, stratified_split
from harness.cli import main

from support.files import CATALOGUE_FIXTURES, REPO_ROOT, read_jsonl, real_catalogue_root

FIXTURE_ROOT = CATALOGUE_FIXTURES




needs_real = pytest.mark.skipif(real_catalogue_root() is None, reason="real catalogue files absent (../shared/data/catalogues)")

TOPOGRAPHY_CODE = re.compile(r"C\d{2}\.\d")
LABEL_RULE_YEARS = ("--icd10gm-year", "2097", "--alphaid-year", "2097", "--icdo3-year", "2097")
CODE_SETS = {"alphaid_icd10gm_neoplasms": "icd10gm_code", "alphaid_icd10gm_all": "icd10gm_code",
             "icdo3_topography": "icdo3_topography_code", "icdo3_morphology": "icdo3_morphology_code"}


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


def test_split_keeps_the_codes_of_the_pool_out_of_the_test_split() -> None:
    # ten codes with five texts each: "Erythrämie in kompletter Remission" (C94.01) as an example would give
    # "Erythroleukoblastose in kompletter Remission" (C94.01) away
    candidates = [Candidate(f"text {i}", f"C{i % 10:02d}.0", "A" if i < 25 else "B", f"id{i:03d}") for i in range(50)]
    for seed in range(5):
        test, shots = stratified_split(candidates, 100, 4, seed=seed)
        pool = {c.answer for c in shots}
        assert len(pool) == 4  # one example per code
        assert not pool & {c.answer for c in test}
        assert len(test) == 50 - 4 - 4 * 4  # every other text of a pool code is left out


def build(root: Path, out: Path, *years: str) -> CliRunner:
    # the lookup check (minutes on the real files) is tested once, in test_catalogue_variation.py
    return CliRunner().invoke(main, ["catalogue", "build-tasks", "--catalogues", str(root), "--out", str(out),
                                     "--no-lookup-check", *years],
                              catch_exceptions=False)


def test_build_from_hand_written_fixtures(tmp_path: Path) -> None:
    years = ["--icd10gm-year", "2099", "--alphaid-year", "2099", "--icdo3-year", "2099", "--ops-year", "2099",
             "--n-test", "6", "--n-fewshot", "2", "--seed", "1"]
    result = build(FIXTURE_ROOT, tmp_path / "a", *years)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text(encoding="utf-8"))
    base = {name for name, entry in manifest["sets"].items() if entry["kind"] == "catalogue_recall"}
    clinical = {name for name, entry in manifest["sets"].items() if entry["kind"] == "clinical_variation"}
    assert base == set(SETS) and clinical == {f"{name}_clinical" for name in SETS}
    assert manifest["notice"] == BFARM_NOTICE
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


def build_label_fixtures(out: Path, *options: str) -> dict:
    """The sets of the hand-written "label rules" fixtures (year 2097, see tests/fixtures/catalogue-sources/README.md)."""
    result = build(FIXTURE_ROOT, out, *LABEL_RULE_YEARS, *options)
    assert result.exit_code == 0, result.output
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def gold_by_text(out: Path, name: str, answer_field: str) -> dict[str, str]:
    """text -> gold of every item of a set: the test split and the few-shot pool."""
    gold = {r["text"]: r[answer_field] for r in read_jsonl(out / name / "test.jsonl")}
    return gold | {r["text"]: r["answer"] for r in read_jsonl(out / name / "fewshot.jsonl")}


def test_topography_gold_is_a_codable_code_never_a_category_heading(tmp_path: Path) -> None:
    manifest = build_label_fixtures(tmp_path / "g", "--n-test", "100", "--n-fewshot", "2")
    gold = gold_by_text(tmp_path / "g", "icdo3_topography", "icdo3_topography_code")
    assert all(TOPOGRAPHY_CODE.fullmatch(code) for code in gold.values()), gold
    # the headings (C14, C18 "Kolon", C34, C61, C80) are dropped, not mapped; "Prostata" and "Primärsitz
    # unbekannt" were ambiguous (heading and .9 code share the text) and are now the .9 items
    assert gold == {"Rachen o.n.A.": "C14.0", "Zäkum": "C18.0", "Kolon o.n.A.": "C18.9", "Lungenoberlappen": "C34.1",
                    "Lunge o.n.A.": "C34.9", "Prostata": "C61.9", "Primärsitz unbekannt": "C80.9"}
    assert manifest["sets"]["icdo3_topography"]["dropped"] == {"category_heading": 5}
    assert "Cxx.x" in manifest["label_rules"]["icdo3_topography"]


def test_recognition_labels_by_every_code_of_the_row_and_the_history_rule(tmp_path: Path) -> None:
    manifest = build_label_fixtures(tmp_path / "g", "--n-test", "100", "--n-fewshot", "0")
    gold = gold_by_text(tmp_path / "g", "tumour_recognition", "is_tumour")
    expected = {
        "HIV-Krankheit mit Kaposi-Sarkom": "Ja",  # B21 with the additional code C46.9
        "Mammakarzinom in der Eigenanamnese": "Ja",  # Z85: the patient's own past carcinoma (as in UroLlmEval)
        "Harnblasenkarzinom in der Eigenanamnese": "Ja",
        "Mammakarzinom in der Familienanamnese": "Nein",  # Z80: someone else's tumour
        "Screening auf Brustkrebs": "Nein",  # Z12: no tumour asserted
        "Abklärung bei Verdacht auf Krebs": "Nein",  # Z03.1: suspected only
        "Kaposi-Sarkom": "Ja",
        "Asthma bronchiale": "Nein",
    }
    assert {text: gold.get(text) for text in expected} == expected
    for text in ("Tumornachsorge", "Dickdarmpolyp in der Eigenanamnese", "Chemotherapie bei Krebs"):  # Z08, Z86.0, Z51.1
        assert text not in gold
    report = manifest["sets"]["tumour_recognition"]
    assert report["dropped"] == {"ambiguous_tumour_context": 3}
    assert report["labels"] == {"Ja:chapter_ii_code": 17, "Ja:own_history_malignant_Z85": 2, "Nein:family_history_Z80": 1,
                                "Nein:screening_Z12": 1, "Nein:suspected_only_Z03.1": 1, "Nein:other_diagnosis": 4}
    assert "Z85" in manifest["label_rules"]["tumour_recognition"]
    from harness.families.catalogue_qa.build import recognition_label

    assert recognition_label(["B21", "C46.9"]) == ("Ja", "chapter_ii_code")
    assert recognition_label(["C80.9", "G13.1", "U69.10"]) == ("Ja", "chapter_ii_code")
    assert recognition_label(["Z85.9"])[0] == "Ja" and recognition_label(["Z80.9"])[0] == "Nein"
    assert recognition_label(["Z12.9"])[0] == "Nein" and recognition_label(["Z08.0"])[0] is None


@pytest.mark.parametrize("seed", range(5))
def test_fewshot_pool_shares_no_code_with_the_test_split(tmp_path: Path, seed: int) -> None:
    from harness.catalogues import load_alphaid

    out = tmp_path / "g"
    manifest = build_label_fixtures(out, "--n-test", "100", "--n-fewshot", "2", "--seed", str(seed))
    for name, field in CODE_SETS.items():
        test, shots = read_jsonl(out / name / "test.jsonl"), read_jsonl(out / name / "fewshot.jsonl")
        assert test and len(shots) == 2, name
        assert not {r[field] for r in test} & {r["answer"] for r in shots}, name
        assert manifest["sets"][name]["fewshot_test_overlap"] == {"texts": 0, "codes": 0}, name
    # every neoplasm code of the fixture has two texts: the pool's two codes cost the test split two texts
    assert manifest["sets"]["alphaid_icd10gm_neoplasms"]["excluded_same_code_as_fewshot"] == 2
    primary = {f"alpha-{e.alpha_id}": e.primary for e in load_alphaid(2097, FIXTURE_ROOT)}
    test = read_jsonl(out / "tumour_recognition" / "test.jsonl")
    shots = read_jsonl(out / "tumour_recognition" / "fewshot.jsonl")
    assert not {r["code"] for r in test} & {primary[r["id"]] for r in shots}
    assert manifest["sets"]["tumour_recognition"]["fewshot_test_overlap"] == {"texts": 0, "codes": 0}


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
def test_real_catalogues_build_and_run_with_the_lookup_baselines(tmp_path: Path) -> None:
    folder = tmp_path / "icd_catalogue_qa"  # the task definitions beside their own generated sets
    shutil.copytree(REPO_ROOT / "tasks" / "icd_catalogue_qa", folder, ignore=shutil.ignore_patterns("generated"))
    out = folder / "generated"
    result = build(real_catalogue_root(), out, "--n-test", "60", "--n-fewshot", "8")
    assert result.exit_code == 0, result.output
    neoplasms = read_jsonl(out / "alphaid_icd10gm_neoplasms" / "test.jsonl")
    assert len(neoplasms) == 60 and all(r["icd10gm_code"][0] in "CD" for r in neoplasms)
    recognition = read_jsonl(out / "tumour_recognition" / "test.jsonl")
    assert sum(r["is_tumour"] == "Ja" for r in recognition) == 30
    runs = tmp_path / "runs"
    models = ["--model", "catalogue-lookup-exact", "--model", "catalogue-lookup-fuzzy", "--model", "catalogue-oracle-exact"]
    for set_name in ("alphaid_icd10gm_neoplasms", "icdo3_topography", "tumour_recognition"):
        result = CliRunner().invoke(main, ["run", "--task", str(folder / f"{set_name}.yaml"), "--variant", "0", *models,
                                           "--out", str(runs), "--no-progress"], catch_exceptions=False)
        assert result.exit_code == 0, result.output

    def accuracy(model: str) -> float:
        summary = runs / f"icd_catalogue_qa.alphaid_icd10gm_neoplasms--0--{model}" / "summary.json"
        return json.loads(summary.read_text(encoding="utf-8"))["metrics"]["accuracy"]["value"]

    # the test texts are catalogue rows: the oracle finds (almost) all of them, the fair exact lookup none
    assert accuracy("catalogue-oracle-exact") > 0.9 and accuracy("catalogue-lookup-exact") == 0.0
    summary = json.loads((runs / "icd_catalogue_qa.alphaid_icd10gm_neoplasms--0--catalogue-lookup-fuzzy" / "summary.json")
                         .read_text(encoding="utf-8"))
    assert {"p_same_block", "p_hallucinated", "p_several_codes", "p_secondary_neoplasm"} <= set(summary["metrics"])
    site = tmp_path / "site"
    assert CliRunner().invoke(main, ["report", str(runs), "--out", str(site)]).exit_code == 0
    (page,) = (site / "tasks").glob("icd_catalogue_qa.alphaid_icd10gm_neoplasms--*.html")
    html = page.read_text(encoding="utf-8")
    assert "label-quality ceiling (exact)" in html and "p_hallucinated" in html


# --- every label of the real files, re-derived from the raw files (not through the builder's parsers) ---

ICD_CODE = re.compile(r"[A-Z]\d{2}(?:\.\d{1,2})?")


@pytest.fixture(scope="module")
def real_full_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """All candidates of the real files: without a few-shot pool and with n_test above every pool size,
    each kept item is in the test split."""
    root = real_catalogue_root()
    if root is None:
        pytest.skip("real catalogue files absent (../shared/data/catalogues)")
    out = tmp_path_factory.mktemp("real") / "generated"
    result = build(root, out, "--n-test", "1000000", "--n-fewshot", "0")
    assert result.exit_code == 0, result.output
    return root, out, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def all_items(out: Path, name: str, answer_field: str) -> list[tuple[str, str, str]]:
    """(id, text, gold) of the test split and the few-shot pool."""
    rows = [(r["id"], r["text"], r[answer_field]) for r in read_jsonl(out / name / "test.jsonl")]
    return rows + [(r["id"], r["text"], r["answer"]) for r in read_jsonl(out / name / "fewshot.jsonl")]


def test_real_topography_labels_all_checked(real_full_sets: tuple[Path, Path, dict]) -> None:
    root, out, manifest = real_full_sets
    with (root / "icdo3" / "2019" / "topographie.csv").open(encoding="utf-8-sig", newline="") as handle:
        raw = {row["code"].strip(): row["name"].strip() for row in csv.DictReader(handle, delimiter=";")}
    items = all_items(out, "icdo3_topography", "icdo3_topography_code")
    checked = sum(1 for _, text, gold in items if TOPOGRAPHY_CODE.fullmatch(gold) and raw.get(gold) == text)
    headings = [code for code in raw if not TOPOGRAPHY_CODE.fullmatch(code)]
    print(f"icdo3_topography: labels checked {checked}/{len(items)}; {len(headings)} headings dropped")
    assert checked == len(items) == manifest["sets"]["icdo3_topography"]["kept"]
    # every codable term is an item: the headings were the only texts shared by two codes
    assert len(items) == len(raw) - len(headings)
    assert manifest["sets"]["icdo3_topography"]["dropped"] == {"category_heading": len(headings)}


def _raw_alphaid(root: Path) -> dict[tuple[str, str], list[str]]:
    """(Alpha-ID, text) -> every code of the row, straight from the 2010 EDV file (latin-1, ';', 7 fields)."""
    rows: dict[tuple[str, str], list[str]] = {}
    path = next((root / "alphaid" / "2010").glob("icd10gm2010alpha*.txt"))
    for line in path.read_text(encoding="latin-1").splitlines():
        fields = line.split(";")
        if fields and fields[-1] == "":
            fields.pop()
        codes = [m.group(0) for field in fields[3:6] for m in [ICD_CODE.match(field.strip())] if m]
        rows.setdefault((fields[1].strip(), ";".join(fields[6:]).strip()), []).extend(codes)
    return rows


def test_real_recognition_labels_all_checked(real_full_sets: tuple[Path, Path, dict]) -> None:
    root, out, manifest = real_full_sets
    raw = _raw_alphaid(root)

    def expected(codes: list[str]) -> str | None:
        if any(c[0] == "C" or (c[0] == "D" and int(c[1:3]) <= 48) for c in codes):
            return "Ja"
        if any(c.startswith("Z85") for c in codes):
            return "Ja"
        if any(c.startswith(p) for c in codes for p in ("Z08", "Z51.1", "Z51.82", "Z86.0", "Z92.6")):
            return None  # must have been dropped
        return "Nein"

    items = all_items(out, "tumour_recognition", "is_tumour")
    codes = [raw[(id_.removeprefix("alpha-"), text)] for id_, text, _ in items]
    checked = sum(1 for row_codes, (_, _, gold) in zip(codes, items) if expected(row_codes) == gold)
    history = sum(1 for row_codes in codes if any(c[:3] in ("Z80", "Z85", "Z12") for c in row_codes))
    print(f"tumour_recognition: labels checked {checked}/{len(items)} ({history} Z80/Z85/Z12 items)")
    assert checked == len(items) == manifest["sets"]["tumour_recognition"]["kept"]
    texts = {text: gold for _, text, gold in items}
    assert texts["HIV-Krankheit mit Kaposi-Sarkom"] == "Ja"
    assert texts["Mammakarzinom in der Eigenanamnese"] == "Ja"
    assert texts["Mammakarzinom in der Familienanamnese"] == "Nein"


@needs_real
def test_real_fewshot_pools_share_no_code_with_the_test_split(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    assert build(real_catalogue_root(), out).exit_code == 0  # the default sizes (500 / 16)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for name, field in CODE_SETS.items():
        test, shots = read_jsonl(out / name / "test.jsonl"), read_jsonl(out / name / "fewshot.jsonl")
        assert len(shots) == 16 and not {r[field] for r in test} & {r["answer"] for r in shots}, name
    for name in SETS:
        report = manifest["sets"][name]
        assert report["fewshot_test_overlap"] == {"texts": 0, "codes": 0}, name
        assert report["test"] == (314 if name == "icdo3_topography" else 500), name
