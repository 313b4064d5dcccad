"""The protocol-B study's own figures as published reference rows: on tasks and metrics that exist, on other
data than onkobench's sets (never ranked with them)."""

from __future__ import annotations

from harness.config.tasks import load_task
from harness.report.published import load_published


def study_set():
    (found,) = [s for s in load_published() if s.source.startswith("Lenz et al., arXiv 2510.13624 (eight")]
    return found


def test_every_row_names_a_task_and_metric_onkobench_has() -> None:
    published = study_set()
    assert len(published.rows) >= 10
    for row in published.rows:
        task = load_task(row.task)
        assert row.metric in task.metrics, (row.task, row.metric)
        assert 0.0 <= row.value <= 1.0 and row.note == "other test set"


def test_rows_are_on_other_data_than_the_catalogue_sets() -> None:
    # the report marks a published row as "same data" only when the table's dataset source starts with it
    published = study_set()
    assert not published.dataset.startswith(("generated/", "hf://")) and "not public" in published.dataset


def test_ranges_come_in_pairs_around_tuning() -> None:
    accuracy = {row.model: row.value for row in study_set().rows
                if row.task == "icd_catalogue_qa.alphaid_icd10gm_neoplasms" and row.metric == "accuracy"}
    assert accuracy["lowest of 8 models, before tuning"] < accuracy["highest of 8 models, before tuning"]
    assert accuracy["highest of 8 models, before tuning"] < accuracy["lowest of 8 models, after tuning"]


def test_published_catalogue_results_pass_no_catalogue_mapping_on() -> None:
    """Item ids of the catalogue sets are catalogue ids (Alpha-ID numbers, ICD-O-3 codes): a gold or answered code
    beside them would publish a table derived from the catalogue files. Only flags and the outcome class are there."""
    import json

    from support.files import REPO_ROOT

    results = sorted((REPO_ROOT / "leaderboards" / "results" / "catalogue-qa").glob("*.json"))
    assert results
    for path in results:
        for item in json.loads(path.read_text(encoding="utf-8"))["items"]:
            texts = {k: v for k, v in item["values"].items() if isinstance(v, (str, list)) and k != "outcome"}
            assert not texts, (path.name, item["id"], texts)


def test_icd_scorer_values_hold_no_codes() -> None:
    from harness.scoring.icd import icd10gm_code_parser, icdo3_topography_scorer
    from harness.scoring.scorers import make_scorer

    icd10 = make_scorer("icd10gm_hierarchy", {"year": 2024})
    values = icd10(icd10gm_code_parser()("C61"), "C61")
    assert values["correct"] == 1 and not [v for v in values.values() if isinstance(v, str) and v != values["outcome"]]
    assert "C61" not in json_dumps(icdo3_topography_scorer()(icd10gm_code_parser()("C61.9"), "C61.9"))


def json_dumps(value: object) -> str:
    import json

    return json.dumps(value)
