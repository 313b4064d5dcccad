from __future__ import annotations

from pathlib import Path

import pytest

from harness.families.urollmeval.expanders import (
    expand_gold_codes, expand_gold_diagnoses, expand_step1_diagnoses, expand_step2_codes,
)
from harness.pipeline.chains import ChainSource, chained_data, find_best_run, resolve_chain
from harness.store import MetricEstimate, ModelSummary, RunManifest, RunStore, RunSummary
from harness.data import load_task_data
from harness.errors import OnkobenchError
from harness.config.tasks import load_all_tasks

from support.files import FIXTURES

SNIPPETS = FIXTURES / "tasks" / "mini" / "data" / "snippets.jsonl"


@pytest.fixture(scope="module")
def steps():
    tasks = load_all_tasks()
    base = load_task_data(tasks["urollmeval.step1"], SNIPPETS)
    return tasks, base


def test_step1_answers_become_step2_queries(steps) -> None:
    tasks, base = steps
    upstream = [
        {"sample_id": "0", "status": "ok", "answer": ["Prostatakarzinom"]},
        {"sample_id": "1", "status": "ok", "answer": []},
        {"sample_id": "2", "status": "ok", "answer": ["Urothelkarzinom", ["Prostatakarzinom"]]},
        {"sample_id": "3", "status": "malformed", "answer": None},  # NA: no queries
        {"sample_id": "4", "status": "ok", "answer": [{"x": 1}]},
    ]
    samples = expand_step1_diagnoses(tasks["urollmeval.step2"], base.samples, upstream, {})
    assert [(s.id, s.group, s.fields["diagnosis"], s.target) for s in samples] == [
        ("0/0", "0", "Prostatakarzinom", ["C61"]),
        ("2/0", "2", "Urothelkarzinom", ["C61", "C67"]),
        # as the study's step 2 (run_evaluation_step2.py, extract_diagnosis_texts): the array is
        # flattened and an item that is not a string is written as Python prints it
        ("2/1", "2", "Prostatakarzinom", ["C61", "C67"]),
        ("4/0", "4", "{'x': 1}", []),
    ]
    assert samples[0].extra == {"diagnosis": "Prostatakarzinom"}


def test_gold_diagnoses_use_names_or_label_text(steps) -> None:
    tasks, base = steps
    samples = expand_gold_diagnoses(tasks["urollmeval.step2"], base.samples, [], {})
    assert [(s.id, s.fields["diagnosis"]) for s in samples] == [
        ("0/0", "Prostatakarzinom"), ("2/0", "Harnblasenkarzinom"), ("2/1", "Prostatakarzinom"),
    ]
    labelled = [base.samples[0].__class__("9", {"text": "x", "label": [{"diagnosis": "C61", "date": "0", "diagnosis_text": "PCa"}]}, True)]
    assert expand_gold_diagnoses(tasks["urollmeval.step2"], labelled, [], {})[0].fields["diagnosis"] == "PCa"


def step2_row(sample_id: str, group: str, code: str | None, diagnosis: str) -> dict:
    return {"sample_id": sample_id, "group": group, "values": {"code": code}, "extra": {"diagnosis": diagnosis}}


def test_step2_codes_become_step3_queries(steps) -> None:
    tasks, base = steps
    upstream = [
        step2_row("2/0", "2", "C67", "Urothelkarzinom"),
        step2_row("2/1", "2", "C61", "Prostatakarzinom"),
        step2_row("2/2", "2", "C61", "Adenokarzinom"),  # the same code again: a query of its own
        step2_row("2/3", "2", "C78", "Metastasen"),  # no gold label with that code: dropped
        step2_row("0/0", "0", None, "Prostatakarzinom"),  # no code: dropped
        step2_row("3/0", "3", "C64", "Nierenzellkarzinom"),  # not a gold label: dropped
    ]
    samples = expand_step2_codes(tasks["urollmeval.step3"], base.samples, upstream, {})
    assert [(s.id, s.fields["code"], s.fields["diagnosis"], s.target) for s in samples] == [
        ("2/0", "C67", "Urothelkarzinom", "2020-03"),
        ("2/1", "C61", "Prostatakarzinom", "2018"),
        ("2/2", "C61", "Adenokarzinom", "2018"),
    ]
    merged = expand_step2_codes(tasks["urollmeval.step3"], base.samples, upstream, {"merge_same_code": True})
    assert [(s.id, s.fields["diagnoses"]) for s in merged] == [
        ("2/C67", ["Urothelkarzinom"]), ("2/C61", ["Prostatakarzinom", "Adenokarzinom"]),
    ]


def test_gold_codes(steps) -> None:
    tasks, base = steps
    samples = expand_gold_codes(tasks["urollmeval.step3"], base.samples, [], {})
    assert [(s.id, s.fields["code"], s.target) for s in samples] == [("0/0", "C61", "2019"), ("2/0", "C67", "2020-03"), ("2/1", "C61", "2018")]


def fake_run(root: Path, name: str, task: str, value: float, n: int, fingerprint: str, model: str = "m", upstream=None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    manifest = RunManifest(
        run_id=name, task=task, task_version=1, variant="v", model={"name": model}, model_config_hash="h",
        dataset={"fingerprint": fingerprint}, upstream=upstream, prompt_template_hash="", shot_ids=[], generation={},
        harness_version="0", git_commit=None, git_dirty=None, packages={}, hardware={}, started_at="2026-01-01",
    )
    summary = RunSummary(
        run_id=name, task=task, task_version=1, family="f", variant="v",
        model=ModelSummary(name=model, display_name=model, runner="baseline"), model_config_hash="h",
        dataset={"fingerprint": fingerprint}, primary_metric="p",
        metrics={"p": MetricEstimate(value=value, lo=None, hi=None, n=n, method="wilson")},
        n_samples=n, status_counts={}, latency={}, tokens={},
    )
    store = RunStore(folder)
    store.write_manifest(manifest)
    store.write_summary(summary)
    store.write_scores([])
    return folder


def test_best_run_ties_are_broken_deterministically(tmp_path: Path) -> None:
    fake_run(tmp_path, "b-run", "urollmeval.step1", 0.9, 40, "fp")
    fake_run(tmp_path, "a-run", "urollmeval.step1", 0.9, 40, "fp")
    fake_run(tmp_path, "c-run", "urollmeval.step1", 0.9, 30, "fp")
    fake_run(tmp_path, "d-run", "urollmeval.step1", 0.95, 40, "other-data")
    fake_run(tmp_path, "e-run", "urollmeval.step1", 0.99, 40, "fp", upstream={"tag": "gold"})
    fake_run(tmp_path, "f-run", "urollmeval.step2", 1.0, 40, "fp")
    assert find_best_run(tmp_path, "urollmeval.step1", "fp").name == "a-run"
    fake_run(tmp_path, "g-run", "urollmeval.step1", 0.5, 40, "fp", model="own")
    assert find_best_run(tmp_path, "urollmeval.step1", "fp", model="own").name == "g-run"
    with pytest.raises(OnkobenchError, match="no finished urollmeval.step1 run of model nobody"):
        find_best_run(tmp_path, "urollmeval.step1", "fp", model="nobody")


def test_chain_errors(steps, tmp_path: Path) -> None:
    tasks, base = steps
    with pytest.raises(OnkobenchError, match="not a chained step"):
        resolve_chain(tasks["urollmeval.step1"], "best", tmp_path, "fp", None)
    with pytest.raises(OnkobenchError, match="needs its inputs"):
        resolve_chain(tasks["urollmeval.step2"], None, tmp_path, "fp", None)
    wrong = fake_run(tmp_path, "wrong", "urollmeval.step2", 0.5, 5, base.fingerprint)
    with pytest.raises(OnkobenchError, match="builds on urollmeval.step1"):
        resolve_chain(tasks["urollmeval.step2"], str(wrong), tmp_path, "fp", None)
    other = fake_run(tmp_path, "other", "urollmeval.step1", 0.5, 5, "not-this-data")
    with pytest.raises(OnkobenchError, match="used other data"):
        chained_data(tasks["urollmeval.step2"], tasks["urollmeval.step2"].variant("0-uro"), base, ChainSource(other))
