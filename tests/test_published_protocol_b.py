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
