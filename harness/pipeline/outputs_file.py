"""Scoring outputs produced elsewhere: a JSON Lines file of sample ids and model texts -> a run folder."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from functools import partial
from itertools import islice
from operator import attrgetter, itemgetter
from dataclasses import dataclass, replace
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from harness.pipeline.chains import EXPANDERS, UPSTREAM_FROM_RECORDS
from harness.data import iter_jsonl
from harness.jsonl import ColumnEncoder, quick_loads_many
from harness.errors import OnkobenchError
from harness.pipeline.run import EXTERNAL_VARIANT, RunOutcome, build_manifest
from harness.pipeline.spec import run_id_for
from harness.config.models import ModelConfig
from harness.provenance import utc_now
from harness.gc_pacing import paced_collector
from harness.records import stable_hash
from harness.scoring import chunks as chunking
from harness.scoring import SampleScorer
from harness.scoring.chunks import Chunk, ScoredChunk, make_chunk, score_texts, single_query_chunk
from harness.scoring.run import write_scored_chunks, write_summary
from harness.scoring.stages import StageTimes
from harness.scoring.workers import AUTO_MAX_WORKERS, AUTO_MIN_SAMPLES, ScoringPool, scoring_workers
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


Columns = tuple[list[str], list[str]]
"""A batch of outputs: the sample ids and their texts."""


def _single_step_outputs(
    path: Path, data: TaskData, records: Iterable[dict[str, Any]] | None = None, start: int = 0, records_before: int = 0,
    seen: set[str] | None = None,
) -> Iterator[Columns]:
    """(sample ids, outputs) of the records of the outputs file (or of ``records``), a chunk's worth at a time: every
    record with an ``id`` of a sample and a string ``output`` (the checks of ``iter_output_records``), no id twice;
    errors name file and record. ``start``: the file's byte to read from, after ``records_before`` records (one a
    line) whose ids are ``seen``."""
    seen = seen if seen is not None else set()
    rows_of = iter(records) if records is not None else iter_jsonl(path, start, records_before)
    number = records_before
    while rows := list(islice(rows_of, chunking.CHUNK_SAMPLES)):
        batch = _checked_columns(rows, data, seen)
        if batch is None:  # a record fails a check: found and named one by one
            batch = _checked_rows(rows, number, path, data, seen, from_file=records is None)
        number += len(rows)
        yield batch


def _checked_columns(rows: list[dict[str, Any]], data: TaskData, seen: set[str]) -> Columns | None:
    """The batch's columns when every record passes the checks (a column at a time, adding its ids to ``seen``);
    else None, with ``seen`` as it was."""
    columns = _string_columns(rows)
    if columns is None:
        return None  # ids of other types are turned into strings row by row
    raw_ids, texts = columns
    samples = list(map(data.by_id.get, raw_ids))
    if None in samples:
        return None
    ids = list(map(attrgetter("id"), samples))  # the dataset's own strings: ``seen`` holds no copies
    fresh = set(ids)
    if len(fresh) != len(ids) or not seen.isdisjoint(fresh):
        return None
    seen |= fresh
    return ids, texts


def _string_columns(rows: list[Any]) -> Columns | None:
    """The ``id`` and ``output`` columns of these records when every one is an object with both as strings."""
    try:
        ids, texts = list(map(itemgetter("id"), rows)), list(map(itemgetter("output"), rows))
    except (KeyError, TypeError, IndexError):
        return None
    if set(map(type, ids)) != {str} or set(map(type, texts)) != {str}:
        return None
    return ids, texts


def _checked_rows(rows: list[dict[str, Any]], number: int, path: Path, data: TaskData, seen: set[str],
                  from_file: bool) -> Columns:
    """The batch's columns, record by record; the first record that fails a check raises (``number``: records
    before this batch)."""
    by_id = data.by_id
    ids: list[str] = []
    texts: list[str] = []
    for number, row in enumerate(rows, start=number + 1):
        if from_file:
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
        sample_id = sample.id
        if sample_id in seen:
            raise OnkobenchError(f"{path}: record {number}: id {sample_id!r} appears twice")
        seen.add(sample_id)
        ids.append(sample_id)
        texts.append(row["output"])
    return ids, texts


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


def outputs_scoring_pool(task: Task, outputs_path: Path, variant: str | None = None, workers: int | None = None) -> ScoringPool:
    """The processes that will score ``outputs_path`` (``workers``, else chosen by its number of lines), started now:
    they build the scorer (forked from this process where it runs one thread, else importing onkobench first) while
    this process reads the data set. Pass it to ``score_outputs_file`` and close it (a context manager) after."""
    resolved = _one_output_variant(task, variant) if variant is not None else None
    # the choice depends on the count only up to the most chunks the most workers can take
    enough = max(AUTO_MIN_SAMPLES, max(AUTO_MAX_WORKERS, workers or 0) * chunking.CHUNK_SAMPLES)
    # nothing is open yet (no run folder, no engine): the workers may be copies of this process
    return ScoringPool(task, resolved, scoring_workers(workers, _count_lines(outputs_path, enough)), fork=True)


def _count_lines(path: Path, enough: int) -> int:
    """Lines of the file, counted up to ``enough`` (the file's first megabytes); 0 for a pipe, which can be read only
    once, and for a file that cannot be read (reading it names the error)."""
    if not path.is_file():
        return 0
    lines = 0
    try:
        with path.open("rb") as handle:
            for block in iter(partial(handle.read, 1 << 20), b""):
                lines += block.count(b"\n")
                if lines >= enough:
                    break
    except OSError:
        return 0
    return lines


@paced_collector()
def score_outputs_file(
    task: Task, data: TaskData, outputs_path: Path, out_dir: Path, model_name: str,
    records: Iterable[dict[str, Any]] | None = None, variant: str | None = None, workers: int | None = None,
    times: StageTimes | None = None, pool: ScoringPool | None = None,
) -> RunOutcome:
    """Score outputs produced elsewhere as a run folder of their own (model runner ``external``).

    The outputs file is read as a stream into the run folder's responses file and scored from there,
    so its size does not bound what can be scored. ``records`` (``id``, ``output``) replace reading
    ``outputs_path`` as onkobench's own format (an lm-eval samples log, for instance); ``variant``
    names the prompt variant that produced them (its parser then applies), else ``external``.
    ``workers`` and ``times``: as for ``score_stored``; ``pool``: processes started for this file
    (``outputs_scoring_pool``), used in place of ``workers``: they are let go once its chunks are scored (the pool
    scores nothing else), and the caller closes it.
    """
    times = times if times is not None else StageTimes()
    resolved = _one_output_variant(task, variant) if variant is not None else None
    if pool is not None and (pool.task, pool.variant) != (task, resolved):
        raise ValueError("the scoring pool was started for another task or variant")
    outputs: Iterator[Columns] | None = None  # None: the outputs file itself, read in the data set's order if it is
    if task.upstream is not None:
        data, step_outputs = _chained_step(outputs_path, task, data)
        # records a chained step drops by rule (a code that is no gold label) are not part of the run
        kept = {sample.id for sample in data.samples}
        outputs = _in_batches((sid, text) for sid, text in step_outputs.items() if sid in kept)
    elif records is not None or not outputs_path.is_file():
        # a pipe is read once, record by record (a missing file: the error names it)
        outputs = _single_step_outputs(outputs_path, data, records)
    # the file's name only: the config and engine are published, and a local path says nothing public (may name a person)
    config = ModelConfig(name=model_name, runner="external", metadata={"description": f"scored from {outputs_path.name}"})
    run_id = run_id_for(task.name, resolved.name if resolved else EXTERNAL_VARIANT, config.name)
    store = RunStore(out_dir / run_id)
    now = utc_now()
    manifest = build_manifest(run_id, task, resolved, config, data,
                              {"engine": "external", "outputs_file": outputs_path.name}, now, finished_at=now)
    store.write_manifest(manifest)
    # workers (unless started before) start now: they load the scorer while this process reads the outputs, and score
    # chunks of samples while it goes on; the copy is renamed into place before the scores, as a run's responses are
    # written first
    own_pool = pool is None
    if pool is None:
        pool = ScoringPool(task, resolved, scoring_workers(workers, len(data.samples)))
    try:
        with store.scores_writer() as write:
            # this folder mirrors the outputs file (report and publish read the texts from it); it is not resumed
            with store.mirror_responses() as mirror:
                if outputs is None:
                    scored = _scored_outputs_file(pool, outputs_path, data, mirror, times)
                else:
                    scored = pool.scored(_chunks_as_copied(_timed_reading(outputs, times), mirror, data, times), mirror.path, times)
                table, stats = write_scored_chunks(scored, write, times)
                pool.release()  # the workers exit while the files are completed and the metrics computed
            finishing = time.process_time()
        times.add("write scores", time.process_time() - finishing)  # flushed, synced and renamed into place
        summary = write_summary(store, manifest, task, table, stats, times)
    finally:
        if own_pool:
            pool.close()
    return RunOutcome(store.folder, summary, n_generated=0, n_reused=mirror.n_rows)


@dataclass(frozen=True, slots=True)
class _ChunkLines:
    """The next lines of an outputs file, one for each sample of ``chunk`` if the file is in the data set's order."""

    chunk: Chunk
    """The samples with their one key each (no offsets: their responses are not stored yet)."""
    lines: bytes
    """As many lines as the chunk has samples (the last one perhaps without its newline), as one block: one copy to
    a worker rather than an object per line."""


@dataclass(frozen=True, slots=True)
class _CopiedChunk:
    copy: bytes
    """The chunk's lines of the run folder's copy of the outputs (``ResponseMirror``'s bytes)."""
    scored: ScoredChunk


def _scored_outputs_file(
    pool: ScoringPool, path: Path, data: TaskData, mirror: ResponseMirror, times: StageTimes,
) -> Iterator[ScoredChunk]:
    """The outputs file's (a regular file's) chunks, copied and scored. While its lines are the data set's samples in order (the
    usual file), each chunk's lines go to a worker as they are, which decodes and checks them, writes them as the
    copy's lines and scores them in one go; from the first chunk that is not (another order, a line missing, a line
    to read by the standard library or to reject), the rest of the file is read here as ``_single_step_outputs``
    reads any file, with its errors, and scored from the copy."""
    pending: deque[_ChunkLines] = deque()
    n_samples = n_bytes = 0
    results = pool.in_order(_copy_and_score, _sent(_chunk_lines(path, data, times), pending), times)
    try:
        for result in results:
            part = pending.popleft()
            if result is None:
                pending.clear()  # the chunks read ahead are read again record by record
                break
            with times.timed("write run folder copy of outputs"):
                # nothing looks these lines up: they are scored, and a later line of any of their samples is an error
                mirror.write_unindexed(result.copy, len(part.chunk.ids))
            n_samples += len(part.chunk.ids)
            n_bytes += len(part.lines)
            yield result.scored
    finally:
        results.close()
    rest = None
    if path.stat().st_size > n_bytes:
        seen = set(map(attrgetter("id"), data.samples[:n_samples]))
        rest = _single_step_outputs(path, data, start=n_bytes, records_before=n_samples, seen=seen)
    chunks = _chunks_as_copied(_timed_reading(rest or iter(()), times), mirror, data, times, start=n_samples)
    yield from pool.scored(chunks, mirror.path, times)


def _chunk_lines(path: Path, data: TaskData, times: StageTimes) -> Iterator[_ChunkLines]:
    """The file's next lines for each chunk of samples in turn (as many lines as the chunk has samples), until the
    file ends."""
    samples, queries, size = data.samples, _OneLineEach(data), chunking.CHUNK_SAMPLES
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise OnkobenchError(f"{path}: file not found") from None
    with handle:
        for start in range(0, len(samples), size):
            with times.timed("read outputs file"):
                part = samples[start : start + size]
                lines = list(islice(handle, len(part)))
            if len(lines) < len(part):
                return
            with times.timed("prepare chunks"):
                keys = queries.single_keys(part)
                chunk = single_query_chunk(part, keys, [])
            yield _ChunkLines(chunk, b"".join(lines))


def _sent(parts: Iterator[_ChunkLines], pending: deque[_ChunkLines]) -> Iterator[_ChunkLines]:
    """The parts, each kept in ``pending`` until its result is taken (results come in the same order)."""
    for part in parts:
        pending.append(part)
        yield part


def _copy_and_score(scorer: SampleScorer, encoder: ColumnEncoder, part: _ChunkLines) -> _CopiedChunk | None:
    """In a worker (or here): the chunk's lines decoded, checked to be its samples' outputs in order, written as the
    copy's lines and scored; None if they are not (or orjson leaves a line to the standard library)."""
    times = StageTimes()
    chunk = part.chunk
    with times.timed("read outputs file"):
        lines = part.lines.split(b"\n")
        if not lines[-1]:
            lines.pop()  # the newline ending the last line
        rows = quick_loads_many(lines, part.lines)
        columns = _string_columns(rows) if rows is not None and set(map(type, rows)) == {dict} else None
        if columns is None or columns[0] != chunk.ids:
            return None
        texts = columns[1]
    with times.timed("write run folder copy of outputs"):
        copy = encoder.lines({"key": chunk.keys, "sample_id": chunk.ids, "text": texts, "error": [None] * len(texts)})
    return _CopiedChunk(copy, score_texts(scorer, encoder, chunk, texts, times))


def _chunks_as_copied(
    batches: Iterator[Columns], mirror: ResponseMirror, data: TaskData, times: StageTimes, start: int = 0,
) -> Iterator[Chunk]:
    """Copy the outputs into the run folder batch by batch; a chunk of samples goes to scoring as soon as each of its
    samples has its line copied (outputs in the data set's order: while the copying goes on), the rest at the end
    (a sample still without a line then has none: missing). A later line can only be an error (an id twice, a
    broken line), and an error discards everything this scoring wrote. ``start``: the first sample of the first
    chunk (the samples before it are scored)."""
    samples, queries, offsets = data.samples, _OneLineEach(data), mirror.index.offsets
    size = chunking.CHUNK_SAMPLES
    for sample_ids, texts in batches:
        with times.timed("write run folder copy of outputs"):
            mirror.write({"key": _external_keys(sample_ids), "sample_id": sample_ids, "text": texts,
                          "error": [None] * len(sample_ids)})
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


def _in_batches(outputs: Iterator[tuple[str, str]]) -> Iterator[Columns]:
    """(sample id, output) pairs as batches of columns, a chunk's worth at a time."""
    while batch := list(islice(outputs, chunking.CHUNK_SAMPLES)):
        yield [sid for sid, _ in batch], [text for _, text in batch]


def _timed_reading(batches: Iterator[Columns], times: StageTimes) -> Iterator[Columns]:
    """The batches, the time spent reading them (decoding, checking) counted as its stage."""
    while True:
        with times.timed("read outputs file"):
            batch = next(batches, None)
        if batch is None:
            return
        yield batch
