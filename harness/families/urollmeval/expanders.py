"""UroLlmEval's chained steps: step-2 samples from step-1 answers (or gold labels), step-3 samples from
step-2 codes (or gold labels); and how an outputs file of step-2/3 answers stands in for the previous run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.config.io import read_yaml
from harness.config.tasks import Task
from harness.data import Sample
from harness.errors import OnkobenchError
from harness.pipeline.chains import EXPANDERS, UPSTREAM_FROM_RECORDS, RecordsAsUpstream
from harness.scoring.parsers import flatten


def _label_codes(sample: Sample) -> list[dict[str, Any]]:
    labels = sample.fields.get("label") or []
    if not isinstance(labels, list):
        raise OnkobenchError(f"sample {sample.id}: 'label' must be a list")
    return labels


@EXPANDERS.register("step1_diagnoses")
def expand_step1_diagnoses(task: Task, base: Sequence[Sample], upstream: Sequence[dict[str, Any]], options: dict[str, Any]) -> list[Sample]:
    """UroLlmEval step 2: one query per item of a snippet's flattened step-1 array (none for NA or [], [[]]).

    Study: run_evaluation_step2.py, evaluate_step2_model_prompt builds one query per item of
    results_helper.py, extract_diagnosis_texts (the parsed array, flattened) and puts each item into
    the prompt with an f-string, so an item that is not a string is written as Python prints it
    (``{'x': 1}``, ``None``, ``True``).
    """
    by_id = {s.id: s for s in base}
    samples = []
    for row in upstream:
        snippet = by_id.get(str(row["sample_id"]))
        if snippet is None or row.get("status") != "ok" or not isinstance(row.get("answer"), list):
            continue
        gold = sorted({str(label["diagnosis"]) for label in _label_codes(snippet)})
        for index, item in enumerate(flatten(row["answer"])):
            extra = {"diagnosis": str(item)}
            samples.append(Sample(f"{snippet.id}/{index}", {**snippet.fields, **extra}, gold, group=snippet.id, extra=extra))
    return samples


def _diagnosis_names(task: Task, options: dict[str, Any]) -> dict[str, str]:
    path = task.folder / str(options.get("names", "data/gold_diagnosis_names.yaml"))
    names = read_yaml(path)
    if not isinstance(names, dict):
        raise OnkobenchError(f"{path}: expected a mapping of code -> diagnosis text")
    return {str(code): str(text) for code, text in names.items()}


def _gold_text(label: dict[str, Any], names: dict[str, str]) -> str:
    # labels carry codes only; a hand-written German name per code stands in for the text step 1 would find
    return str(label.get("diagnosis_text") or names.get(str(label["diagnosis"]), label["diagnosis"]))


@EXPANDERS.register("gold_diagnoses")
def expand_gold_diagnoses(task: Task, base: Sequence[Sample], upstream: Sequence[dict[str, Any]], options: dict[str, Any]) -> list[Sample]:
    """Step 2 on gold input: one query per gold label, named by its ``diagnosis_text`` or the code's German name."""
    names = _diagnosis_names(task, options)
    samples = []
    for snippet in base:
        labels = _label_codes(snippet)
        gold = sorted({str(label["diagnosis"]) for label in labels})
        for index, label in enumerate(labels):
            extra = {"diagnosis": _gold_text(label, names)}
            samples.append(Sample(f"{snippet.id}/{index}", {**snippet.fields, **extra}, gold, group=snippet.id, extra=extra))
    return samples


def _gold_date(snippet: Sample, code: str) -> str | None:
    matches = [label for label in _label_codes(snippet) if str(label["diagnosis"]) == code]
    if len(matches) > 1:
        raise OnkobenchError(f"sample {snippet.id}: code {code} appears in more than one label")
    if not matches:
        return None
    date = str(matches[0].get("date") or "")
    if not date:
        raise OnkobenchError(f"sample {snippet.id}: label {code} has an empty date")
    return date


def _date_sample(snippet: Sample, sample_id: str, code: str, diagnoses: list[str], date: str) -> Sample:
    extra = {"diagnosis": diagnoses[0], "diagnoses": diagnoses, "code": code}
    return Sample(sample_id, {**snippet.fields, **extra}, date, group=snippet.id, extra=extra)


@EXPANDERS.register("step2_codes")
def expand_step2_codes(task: Task, base: Sequence[Sample], upstream: Sequence[dict[str, Any]], options: dict[str, Any]) -> list[Sample]:
    """UroLlmEval step 3: one query per step-2 answer whose code matches a gold label; gold = its date.

    With ``merge_same_code`` (the verify variants) answers of one snippet with the same code form one
    sample that asks about the dates near each of their diagnosis texts.
    """
    by_id = {s.id: s for s in base}
    merged: dict[tuple[str, str], tuple[Sample, list[str], str]] = {}
    samples = []
    for row in upstream:
        code = (row.get("values") or {}).get("code")
        snippet = by_id.get(str(row.get("group") or ""))
        if not code or snippet is None:
            continue
        date = _gold_date(snippet, code)
        if date is None:
            continue  # the study drops answers whose code is not a gold label
        diagnosis = str((row.get("extra") or {}).get("diagnosis", ""))
        if options.get("merge_same_code"):
            entry = merged.setdefault((snippet.id, code), (snippet, [], date))
            entry[1].append(diagnosis)
        else:
            samples.append(_date_sample(snippet, str(row["sample_id"]), code, [diagnosis], date))
    for (snippet_id, code), (snippet, diagnoses, date) in merged.items():
        samples.append(_date_sample(snippet, f"{snippet_id}/{code}", code, diagnoses, date))
    return samples


@EXPANDERS.register("gold_codes")
def expand_gold_codes(task: Task, base: Sequence[Sample], upstream: Sequence[dict[str, Any]], options: dict[str, Any]) -> list[Sample]:
    """Step 3 on gold input: one query per gold label (its code and German name); gold = its date."""
    names = _diagnosis_names(task, options)
    samples = []
    for snippet in base:
        for index, label in enumerate(_label_codes(snippet)):
            code = str(label["diagnosis"])
            samples.append(_date_sample(snippet, f"{snippet.id}/{index}", code, [_gold_text(label, names)], str(label["date"])))
    return samples


def _step1_rows(by_snippet: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    # each record is one string of the snippet's step-1 array
    return [{"sample_id": s, "status": "ok", "answer": [str(r["diagnosis"]) for r in rs]} for s, rs in by_snippet.items()]


def _step2_rows(by_snippet: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    # each record is one step-2 query with the code it was answered with
    return [
        {"sample_id": f"{s}/{i}", "group": s, "values": {"code": str(r["code"])}, "extra": {"diagnosis": str(r["diagnosis"])}}
        for s, rs in by_snippet.items() for i, r in enumerate(rs)
    ]


UPSTREAM_FROM_RECORDS.add("step1_diagnoses", RecordsAsUpstream(("diagnosis",), _step1_rows))
UPSTREAM_FROM_RECORDS.add("step2_codes", RecordsAsUpstream(("diagnosis", "code"), _step2_rows))
