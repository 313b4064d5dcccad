"""Scoring outputs produced elsewhere: a JSON Lines file of sample ids and model texts -> a run folder."""

from __future__ import annotations

import time
from collections import defaultdict
from itertools import islice
from dataclasses import replace
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from harness.pipeline.chains import EXPANDERS, UPSTREAM_FROM_RECORDS
from harness.data import iter_jsonl
from harness.errors import OnkobenchError
from harness.pipeline.run import EXTERNAL_VARIANT, RunOutcome, build_manifest
from harness.pipeline.spec import run_id_for
from harness.config.models import ModelConfig
from harness.provenance import utc_now
from harness.gc_pacing import paced_collector
from harness.records import stable_hash
from harness.scoring import chunks as chunking
from harness.scoring.chunks import Chunk, make_chunk, single_query_chunk
from harness.scoring.run import write_scored_chunks, write_summary
from harness.scoring.stages import StageTimes
from harness.scoring.workers import ScoringPool, scoring_workers
from harness.store import ResponseMirror, RunStore
from harness.config.tasks import Task, Variant
from harness.data import Sample, TaskData


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


_EXTERNAL_KEY_PREFIX = "external:"
"""A line of an outputs file is stored under this prefix and its sample id."""


def _external_key(sample_id: str) -> str:
    return _EXTERNAL_KEY_PREFIX + sample_id


def _external_keys(sample_ids: list[str]) -> list[str]:
    """``_external_key`` of each id (the dataset's ids are strings), without a Python call per id."""
    return list(map(_EXTERNAL_KEY_PREFIX.__add__, sample_ids))


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

    def single_keys(self, samples: Sequence[Sample]) -> list[str]:
        """The one query key of each of these samples (``chunks_of`` asks for a chunk's keys at once)."""
        return _external_keys([sample.id for sample in samples])


def _single_step_outputs(path: Path, data: TaskData, records: Iterable[dict[str, Any]] | None = None) -> Iterator[tuple[str, str]]:
    """(sample id, output) of each record of the outputs file (or of ``records``): every record with an ``id`` of a
    sample and a string ``output`` (the checks of ``iter_output_records``), no id twice; errors name file and record."""
    by_id = data.by_id
    seen: set[str] = set()
    if records is not None:
        rows: Iterable[dict[str, Any]] = records
    else:
        rows = iter_jsonl(path)
    for number, row in enumerate(rows, start=1):
        if records is None:
            if "id" not in row or "output" not in row:
                missing = [key for key in ("id", "output") if key not in row]
                raise OnkobenchError(f"{path}: record {number}: needs key(s) {', '.join(missing)}")
            if not isinstance(row["output"], str):
                raise OnkobenchError(f"{path}: record {number}: 'output' must be a string")
            record_id = row["id"] if type(row["id"]) is str else str(row["id"])
        else:
            record_id = row["id"]  # records made by onkobench (lm-eval's): the sample's own id
        sample = by_id.get(record_id)
        if sample is None:
            raise OnkobenchError(f"{path}: record {number}: id {record_id!r} is not a sample id of the dataset")
        sample_id = sample.id  # the dataset's own string: the set holds no copies
        if sample_id in seen:
            raise OnkobenchError(f"{path}: record {number}: id {sample_id!r} appears twice")
        seen.add(sample_id)
        yield sample_id, row["output"]


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


@paced_collector()
def score_outputs_file(
    task: Task, data: TaskData, outputs_path: Path, out_dir: Path, model_name: str,
    records: Iterable[dict[str, Any]] | None = None, variant: str | None = None, workers: int | None = None,
    times: StageTimes | None = None,
) -> RunOutcome:
    """Score outputs produced elsewhere as a run folder of their own (model runner ``external``).

    The outputs file is read as a stream into the run folder's responses file and scored from there,
    so its size does not bound what can be scored. ``records`` (``id``, ``output``) replace reading
    ``outputs_path`` as onkobench's own format (an lm-eval samples log, for instance); ``variant``
    names the prompt variant that produced them (its parser then applies), else ``external``.
    ``workers`` and ``times``: as for ``score_stored``.
    """
    times = times if times is not None else StageTimes()
    resolved = _one_output_variant(task, variant) if variant is not None else None
    if task.upstream is None:
        outputs: Iterator[tuple[str, str]] = _single_step_outputs(outputs_path, data, records)
    else:
        data, step_outputs = _chained_step(outputs_path, task, data)
        # records a chained step drops by rule (a code that is no gold label) are not part of the run
        kept = {sample.id for sample in data.samples}
        outputs = ((sid, text) for sid, text in step_outputs.items() if sid in kept)
    # the file's name only: the config and engine are published, and a local path says nothing public (may name a person)
    config = ModelConfig(name=model_name, runner="external", metadata={"description": f"scored from {outputs_path.name}"})
    run_id = run_id_for(task.name, resolved.name if resolved else EXTERNAL_VARIANT, config.name)
    store = RunStore(out_dir / run_id)
    now = utc_now()
    manifest = build_manifest(run_id, task, resolved, config, data,
                              {"engine": "external", "outputs_file": outputs_path.name}, now, finished_at=now)
    store.write_manifest(manifest)
    # workers start now: they load the scorer while this process copies the outputs, and score chunks of samples
    # while it goes on copying; the copy is renamed into place before the scores, as a run's responses are written first
    with ScoringPool(task, resolved, scoring_workers(workers, len(data.samples))) as pool:
        with store.scores_writer() as write:
            # this folder mirrors the outputs file (report and publish read the texts from it); it is not resumed
            with store.mirror_responses() as mirror:
                chunks = _chunks_as_copied(_batches(outputs, times), mirror, data, times)
                table, stats = write_scored_chunks(pool.scored(chunks, mirror.path, times), write, times)
            finishing = time.process_time()
        times.add("write scores", time.process_time() - finishing)  # flushed, synced and renamed into place
    summary = write_summary(store, manifest, task, table, stats, times)
    return RunOutcome(store.folder, summary, n_generated=0, n_reused=len(mirror.index.offsets))


def _chunks_as_copied(
    batches: Iterator[list[tuple[str, str]]], mirror: ResponseMirror, data: TaskData, times: StageTimes,
) -> Iterator[Chunk]:
    """Copy the outputs into the run folder batch by batch; a chunk of samples goes to scoring as soon as each of its
    samples has its line copied (outputs in the data set's order: while the copying goes on), the rest at the end
    (a sample still without a line then has none: missing). A later line can only be an error (an id twice, a
    broken line), and an error discards everything this scoring wrote."""
    samples, queries, offsets = data.samples, _OneLineEach(data), mirror.index.offsets
    size = chunking.CHUNK_SAMPLES
    start = 0
    for batch in batches:
        with times.timed("write run folder copy of outputs"):
            sample_ids, texts = [sid for sid, _ in batch], [text for _, text in batch]
            mirror.write({"key": _external_keys(sample_ids), "sample_id": sample_ids, "text": texts,
                          "error": [None] * len(batch)})
            mirror.flush()  # what the chunks below read
        while start < len(samples):
            with times.timed("prepare chunks"):
                part = samples[start : start + size]
                chunk = None
                if _external_key(part[-1].id) in offsets:  # else (in order or not) the chunk is not complete yet
                    keys = queries.single_keys(part)
                    found = list(map(offsets.get, keys))
                    chunk = single_query_chunk(part, keys, found) if None not in found else None
            if chunk is None:
                break
            yield chunk
            start += size
    for start in range(start, len(samples), size):
        with times.timed("prepare chunks"):
            chunk = make_chunk(samples[start : start + size], queries, offsets)
        yield chunk


def _batches(outputs: Iterator[tuple[str, str]], times: StageTimes) -> Iterator[list[tuple[str, str]]]:
    """The outputs a chunk's worth at a time, the time spent reading them (decoding, checking) counted as its stage."""
    while True:
        with times.timed("read outputs file"):
            batch = list(islice(outputs, chunking.CHUNK_SAMPLES))
        if not batch:
            return
        yield batch
