"""Chained steps: samples of step N built from a stored run of step N-1, or from gold labels."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config_io import read_yaml
from harness.errors import OnkobenchError
from harness.records import stable_hash
from harness.registry import Registry
from harness.store import MANIFEST, SCORES, SUMMARY, read_json
from harness.tasks import Sample, Task, TaskData, Variant

Expander = Callable[[Task, Sequence[Sample], Sequence[dict[str, Any]], dict[str, Any]], list[Sample]]
EXPANDERS: Registry[Expander] = Registry("sample expander")


@dataclass(frozen=True)
class ChainSource:
    """Where a chained step's inputs come from: a run folder of the previous step, or gold labels."""

    folder: Path | None

    @property
    def is_gold(self) -> bool:
        return self.folder is None


def _label_codes(sample: Sample) -> list[dict[str, Any]]:
    labels = sample.fields.get("label") or []
    if not isinstance(labels, list):
        raise OnkobenchError(f"sample {sample.id}: 'label' must be a list")
    return labels


@EXPANDERS.register("step1_diagnoses")
def expand_step1_diagnoses(task: Task, base: Sequence[Sample], upstream: Sequence[dict[str, Any]], options: dict[str, Any]) -> list[Sample]:
    """UroLlmEval step 2: one query per string of a snippet's parsed step-1 array (none for NA or [])."""
    by_id = {s.id: s for s in base}
    samples = []
    for row in upstream:
        snippet = by_id.get(str(row["sample_id"]))
        if snippet is None or row.get("status") != "ok" or not isinstance(row.get("answer"), list):
            continue
        gold = sorted({str(label["diagnosis"]) for label in _label_codes(snippet)})
        for index, item in enumerate(row["answer"]):
            extra = {"diagnosis": item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)}
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


def _primary(folder: Path) -> tuple[float, int]:
    summary = read_json(folder / SUMMARY)
    est = summary["metrics"][summary["primary_metric"]]
    return (est["value"] if est["value"] is not None else -1.0, est["n"])


def find_best_run(runs_dir: Path, upstream_task: str, fingerprint: str, model: str | None = None) -> Path:
    """The run of ``upstream_task`` on the same data with the highest primary metric.

    Ties: the larger n first, then the alphabetically first run id, so the choice never depends on
    the order in which the file system lists folders.
    """
    candidates = []
    for manifest_path in sorted(runs_dir.glob(f"*/{MANIFEST}")):
        folder = manifest_path.parent
        manifest = read_json(manifest_path)
        if manifest.get("task") != upstream_task or not (folder / SUMMARY).exists():
            continue
        if manifest.get("dataset", {}).get("base_fingerprint", manifest.get("dataset", {}).get("fingerprint")) != fingerprint:
            continue
        if model is not None and manifest.get("model", {}).get("name") != model:
            continue
        if (manifest.get("upstream") or {}).get("tag") == "gold":
            continue  # a step fed with gold inputs is a comparison aid, never a link of a real chain
        value, n = _primary(folder)
        candidates.append((-value, -n, folder.name, folder))
    if not candidates:
        who = f" of model {model}" if model else ""
        raise OnkobenchError(f"no finished {upstream_task} run{who} on this dataset under {runs_dir}")
    return min(candidates)[3]


def resolve_chain(task: Task, chain: str | None, runs_dir: Path, fingerprint: str, model: str | None) -> ChainSource:
    """``gold``, ``best``, ``own-best`` or a run folder path -> ChainSource."""
    if task.upstream is None:
        raise OnkobenchError(f"task {task.name} is not a chained step (no 'upstream' in its definition)")
    if chain in (None, ""):
        raise OnkobenchError(f"task {task.name} needs its inputs: --chain RUN_DIR|best|own-best or --gold")
    if chain == "gold":
        return ChainSource(None)
    if chain == "best":
        return ChainSource(find_best_run(runs_dir, task.upstream.task, fingerprint))
    if chain == "own-best":
        return ChainSource(find_best_run(runs_dir, task.upstream.task, fingerprint, model))
    folder = Path(chain)
    if not (folder / MANIFEST).exists() or not (folder / SCORES).exists():
        raise OnkobenchError(f"{folder}: not a finished run folder (needs manifest.json and scores.jsonl)")
    manifest = read_json(folder / MANIFEST)
    if manifest.get("task") != task.upstream.task:
        raise OnkobenchError(f"{folder}: a run of {manifest.get('task')}, but {task.name} builds on {task.upstream.task}")
    return ChainSource(folder)


def _read_scores(folder: Path) -> list[dict[str, Any]]:
    rows = []
    with (folder / SCORES).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise OnkobenchError(f"{folder / SCORES}: line {number}: invalid JSON") from None
    return rows


def chained_data(task: Task, variant: Variant, base: TaskData, source: ChainSource) -> TaskData:
    """This step's samples for one variant, from the base dataset and the chain source."""
    assert task.upstream is not None
    options = {**task.upstream.options, **variant.upstream}
    if source.is_gold:
        samples = EXPANDERS.get(task.upstream.gold)(task, base.samples, [], options)
        chain = {"tag": "gold", "run_id": None, "folder": None}
    else:
        folder = source.folder
        assert folder is not None
        manifest = read_json(folder / MANIFEST)
        upstream_fp = manifest.get("dataset", {}).get("base_fingerprint", manifest.get("dataset", {}).get("fingerprint"))
        if upstream_fp != base.fingerprint:
            raise OnkobenchError(f"{folder}: that run used other data (fingerprint {upstream_fp}, this one {base.fingerprint})")
        samples = EXPANDERS.get(task.upstream.expand)(task, base.samples, _read_scores(folder), options)
        run_id = manifest["run_id"]
        tag = f"{manifest['variant']}.{manifest['model']['name']}.{stable_hash(run_id, length=6)}"
        chain = {"tag": tag, "run_id": run_id, "folder": str(folder)}
        if (folder / SUMMARY).exists():
            summary = read_json(folder / SUMMARY)
            chain["primary_metric"] = summary["primary_metric"]
            chain["primary_value"] = summary["metrics"][summary["primary_metric"]]["value"]
    fingerprint = stable_hash({"base": base.fingerprint, "chain": chain["run_id"] or "gold", "options": options}, length=32)
    return TaskData(samples, base.source, fingerprint, chain={**chain, "base_fingerprint": base.fingerprint})
