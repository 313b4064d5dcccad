"""Scoring outputs produced elsewhere: a JSON Lines file of sample ids and model texts -> a run folder."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from harness.pipeline.chains import EXPANDERS, UPSTREAM_FROM_RECORDS
from harness.data import iter_jsonl
from harness.errors import OnkobenchError
from harness.pipeline.run import EXTERNAL_VARIANT, RunOutcome, build_manifest
from harness.pipeline.spec import run_id_for
from harness.config.models import ModelConfig
from harness.provenance import utc_now
from harness.records import stable_hash
from harness.scoring.run import score_stored
from harness.store import RunStore, write_jsonl_atomic
from harness.config.tasks import Task, Variant
from harness.data import TaskData


def iter_output_records(path: Path, known_ids: Mapping[str, Any], required: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Records with ``id``, ``output`` and the ``required`` keys, one at a time; errors name the record."""
    for number, row in enumerate(iter_jsonl(path), start=1):
        missing = [key for key in ("id", "output", *required) if key not in row]
        if missing:
            raise OnkobenchError(f"{path}: record {number}: needs key(s) {', '.join(missing)}")
        if not isinstance(row["output"], str):
            raise OnkobenchError(f"{path}: record {number}: 'output' must be a string")
        if str(row["id"]) not in known_ids:
            raise OnkobenchError(f"{path}: record {number}: id {str(row['id'])!r} is not a sample id of the dataset")
        yield {**row, "id": str(row["id"]), "_number": number}


def _external_key(sample_id: str) -> str:
    return f"external:{sample_id}"


def _response_row(sample_id: str, text: str) -> dict[str, Any]:
    return {"key": _external_key(sample_id), "sample_id": sample_id, "text": text, "error": None}


class _Line(NamedTuple):
    key: str
    query_item: Any = None


class _OneLineEach(Mapping[str, tuple[_Line, ...]]):
    """Every sample's single query: its line of the outputs file (made on demand, not held per sample)."""

    def __init__(self, data: TaskData) -> None:
        self._data = data

    def __getitem__(self, sample_id: str) -> tuple[_Line, ...]:
        if sample_id not in self._data.by_id:
            raise KeyError(sample_id)
        return (_Line(_external_key(sample_id)),)

    def __iter__(self) -> Iterator[str]:
        return (sample.id for sample in self._data.samples)

    def __len__(self) -> int:
        return len(self._data.samples)


def _single_step_rows(path: Path, data: TaskData, records: Iterable[dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    for number, record in enumerate(records if records is not None else iter_output_records(path, data.by_id, ()), start=1):
        if record["id"] not in data.by_id:
            raise OnkobenchError(f"{path}: record {number}: id {record['id']!r} is not a sample id of the dataset")
        sample_id = data.by_id[record["id"]].id  # the dataset's own string: the set holds no copies
        if sample_id in seen:
            raise OnkobenchError(f"{path}: record {number}: id {sample_id!r} appears twice")
        seen.add(sample_id)
        yield _response_row(sample_id, record["output"])


def _chained_step(path: Path, task: Task, data: TaskData) -> tuple[TaskData, dict[str, str]]:
    """Records of a chained step (e.g. step-2 records {id: snippet id, diagnosis, output}) in the layout
    its family registered; they play the part of the previous step's run and go through the same sample builder."""
    assert task.upstream is not None
    expand = task.upstream.expand
    if expand not in UPSTREAM_FROM_RECORDS:
        raise OnkobenchError(f"task {task.name}: outputs for its sample builder {expand!r} cannot be scored from a file")
    layout = UPSTREAM_FROM_RECORDS.get(expand)
    records = list(iter_output_records(path, data.by_id, layout.required))
    by_snippet: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_snippet[record["id"]].append(record)
    outputs = {f"{snippet}/{i}": r["output"] for snippet, rs in by_snippet.items() for i, r in enumerate(rs)}
    upstream = layout.rows(by_snippet)
    samples = EXPANDERS.get(expand)(task, data.samples, upstream, dict(task.upstream.options))
    chain = {"tag": "external", "run_id": None, "folder": str(path), "base_fingerprint": data.fingerprint}
    fingerprint = stable_hash({"base": data.fingerprint, "records": [(r["id"], *(r[k] for k in layout.required)) for r in records]}, length=32)
    return replace(data, samples=samples, fingerprint=fingerprint, chain=chain), outputs


def _one_output_variant(task: Task, name: str) -> Variant:
    variant = task.variant(name)
    if variant.queries is not None or variant.upstream:
        # an outputs file holds one text per sample, built from the task's own upstream rules
        raise OnkobenchError(f"{task.name} variant {name}: several queries per sample or its own upstream options "
                             "cannot be scored from one output per sample")
    return variant


def score_outputs_file(
    task: Task, data: TaskData, outputs_path: Path, out_dir: Path, model_name: str,
    records: Iterable[dict[str, Any]] | None = None, variant: str | None = None,
) -> RunOutcome:
    """Score outputs produced elsewhere as a run folder of their own (model runner ``external``).

    The outputs file is read as a stream into the run folder's responses file and scored from there,
    so its size does not bound what can be scored. ``records`` (``id``, ``output``) replace reading
    ``outputs_path`` as onkobench's own format (an lm-eval samples log, for instance); ``variant``
    names the prompt variant that produced them (its parser then applies), else ``external``.
    """
    resolved = _one_output_variant(task, variant) if variant is not None else None
    if task.upstream is None:
        rows: Iterator[dict[str, Any]] = _single_step_rows(outputs_path, data, records)
    else:
        data, outputs = _chained_step(outputs_path, task, data)
        # records a chained step drops by rule (a code that is no gold label) are not part of the run
        kept = {sample.id for sample in data.samples}
        rows = (_response_row(sid, text) for sid, text in outputs.items() if sid in kept)
    # the file's name only: the config and engine are published, and a local path says nothing public (may name a person)
    config = ModelConfig(name=model_name, runner="external", metadata={"description": f"scored from {outputs_path.name}"})
    run_id = run_id_for(task.name, resolved.name if resolved else EXTERNAL_VARIANT, config.name)
    store = RunStore(out_dir / run_id)
    now = utc_now()
    manifest = build_manifest(run_id, task, resolved, config, data,
                              {"engine": "external", "outputs_file": outputs_path.name}, now, finished_at=now)
    store.write_manifest(manifest)
    write_jsonl_atomic(store.responses_path, rows)  # this folder mirrors the outputs file; it is not resumed
    index = store.response_index()
    summary = score_stored(store, manifest, task, resolved, data, _OneLineEach(data), index)
    return RunOutcome(store.folder, summary, n_generated=0, n_reused=len(index.offsets))
