"""A run's samples in chunks: each chunk is read, parsed, scored, tabled and encoded stage by stage, in this process or
in a worker process, and comes back as the bytes of its score lines plus its columns, so that the chunks joined in
order give the same files and summary whatever process scored them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Protocol

from harness.jsonl import ColumnEncoder
from harness.scoring import ModelOutput, Parsed, SampleScorer, ScoreTable
from harness.scoring.response_stats import ResponseStats
from harness.scoring.stages import StageTimes
from harness.store import ResponseIndex, ResponseReader
from harness.data import Sample

_STATUS, _REASON, _VALUE = attrgetter("status"), attrgetter("reason"), attrgetter("value")

CHUNK_SAMPLES = 8192
"""Samples per chunk: large enough that a chunk's trip to a worker costs little, small enough that a few chunks in
flight hold a few megabytes."""

class Query(Protocol):
    """One stored request of a sample (a Request, or a line of an outputs file).

    A mapping of sample ids to queries may also offer ``single_keys(samples) -> list[str]``: each sample's one query
    key (no item), asked once per chunk instead of once per sample."""

    @property
    def key(self) -> str: ...

    @property
    def query_item(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive samples as columns, with the stored responses of their queries (only what a worker needs: no
    sample fields, and one list per column rather than objects per sample)."""

    ids: list[str]
    targets: list[Any]
    groups: list[str | None] | None
    """None: every sample is its own unit."""
    extras: list[dict[str, Any]] | None
    """None: no sample has chained-step fields."""
    n_queries: list[int]
    """Per sample: how many of its queries have a stored response (their rows follow in ``keys``, ``offsets``)."""
    keys: list[str]
    offsets: list[int]
    """Where each of those responses starts in the responses file."""
    items: list[Any] | None
    """The queries' items; None: no query has one."""


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    lines: bytes
    """The chunk's lines of the run's score file."""
    table: ScoreTable
    stats: ResponseStats
    seconds: dict[str, float]
    """CPU seconds per stage spent on this chunk (in whichever process scored it)."""


def chunks_of(
    samples: Sequence[Sample], queries: Mapping[str, Sequence[Query]], index: ResponseIndex, size: int | None = None,
    times: StageTimes | None = None,
) -> Iterator[Chunk]:
    """The samples in order, ``size`` (default ``CHUNK_SAMPLES``) at a time, each with the latest stored response of
    each of its queries (in query order; a query without a stored response is left out)."""
    times = times if times is not None else StageTimes()
    size = size or CHUNK_SAMPLES
    for start in range(0, len(samples), size):
        with times.timed("prepare chunks"):
            chunk = make_chunk(samples[start : start + size], queries, index.offsets)
        yield chunk


def make_chunk(samples: Sequence[Sample], queries: Mapping[str, Sequence[Query]], offsets_of: Mapping[str, int]) -> Chunk:
    """These samples as one chunk, each with the stored response (offset) of each of its queries that has one."""
    single_keys = getattr(queries, "single_keys", None)
    if single_keys is not None:  # one query per sample, without an item (an outputs file's lines)
        keys = single_keys(samples)
        return single_query_chunk(samples, keys, list(map(offsets_of.get, keys)))
    n_queries: list[int] = []
    keys: list[str] = []
    offsets: list[int] = []
    items: list[Any] = []
    for sample in samples:
        stored = 0
        for query in queries.get(sample.id, ()):
            offset = offsets_of.get(query.key)
            if offset is not None:
                keys.append(query.key)
                offsets.append(offset)
                items.append(query.query_item)
                stored += 1
        n_queries.append(stored)
    return _chunk_of(samples, n_queries, keys, offsets, items if any(item is not None for item in items) else None)


def single_query_chunk(samples: Sequence[Sample], keys: list[str], offsets: list[int | None]) -> Chunk:
    """A chunk of samples with one query each: its key and the offset of its response (None: no response)."""
    n_queries = [1] * len(keys)
    if None in offsets:  # samples without a line
        n_queries = [int(offset is not None) for offset in offsets]
        keys = [key for key, offset in zip(keys, offsets) if offset is not None]
        offsets = [offset for offset in offsets if offset is not None]
    return _chunk_of(samples, n_queries, keys, offsets, None)  # type: ignore[arg-type]


def _chunk_of(samples: Sequence[Sample], n_queries: list[int], keys: list[str], offsets: list[int],
              items: list[Any] | None) -> Chunk:
    groups = [sample.group for sample in samples]
    extras = [sample.extra for sample in samples]
    return Chunk(
        ids=[sample.id for sample in samples], targets=[sample.target for sample in samples],
        groups=groups if groups.count(None) != len(groups) else None, extras=extras if any(extras) else None,
        n_queries=n_queries, keys=keys, offsets=offsets, items=items,
    )


def _answers(reader: ResponseReader, scorer: SampleScorer, chunk: Chunk, stats: ResponseStats) -> tuple[list[Parsed], list[str | None]]:
    """Each sample's answer and the key of its first query. The common chunk (one query per sample, none failed, no
    aggregation) is parsed as one column of texts; any other sample by ``SampleScorer.parsed``."""
    rows = reader.read_many(chunk.offsets)
    stats.add_rows(rows)
    texts = [row.get("text") or "" for row in rows]
    errors = [row.get("error") for row in rows]
    simple = (scorer.aggregate is None and max(chunk.n_queries, default=0) <= 1 and errors.count(None) == len(errors)
              and not any(row.get("reasoning_truncated") for row in rows))
    if simple and len(rows) == len(chunk.ids):
        return scorer.parsed_column(texts), chunk.keys
    answers: list[list[ModelOutput]] = []
    position = 0
    for count in chunk.n_queries:
        answers.append([ModelOutput(text=texts[query], key=chunk.keys[query], error=errors[query],
                                    item=chunk.items[query] if chunk.items is not None else None,
                                    reasoning_truncated=bool(rows[query].get("reasoning_truncated")))
                        for query in range(position, position + count)])
        position += count
    if simple:  # samples without any stored output among ones with one
        parsed_texts = iter(scorer.parsed_column([outputs[0].text for outputs in answers if outputs]))
        return ([next(parsed_texts) if outputs else scorer.parsed(outputs) for outputs in answers],
                [outputs[0].key if outputs else None for outputs in answers])
    return [scorer.parsed(outputs) for outputs in answers], [outputs[0].key if outputs else None for outputs in answers]


def score_chunk(scorer: SampleScorer, encoder: ColumnEncoder, reader: ResponseReader, chunk: Chunk) -> ScoredChunk:
    """One chunk, stage by stage: read and parse its responses, score them (catalogue look-ups), table, encode."""
    times = StageTimes()
    stats = ResponseStats()
    with times.timed("read stored responses + parse"):
        parsed, keys = _answers(reader, scorer, chunk, stats)
    return _scored(scorer, encoder, chunk, parsed, keys, stats, times)


def score_texts(scorer: SampleScorer, encoder: ColumnEncoder, chunk: Chunk, texts: list[str],
                times: StageTimes | None = None) -> ScoredChunk:
    """A chunk whose every sample has one answer, without error: ``texts`` (an outputs file's, read by the caller, the
    same texts its responses hold). The same result as ``score_chunk`` reading them from the responses file."""
    times = times if times is not None else StageTimes()
    with times.timed("parse"):
        if scorer.aggregate is None:
            parsed = scorer.parsed_column(texts)
        else:
            parsed = [scorer.parsed([ModelOutput(text=text, key=key)]) for text, key in zip(texts, chunk.keys)]
    return _scored(scorer, encoder, chunk, parsed, chunk.keys, ResponseStats(), times)


def _scored(scorer: SampleScorer, encoder: ColumnEncoder, chunk: Chunk, parsed: list[Parsed], keys: list[str | None],
            stats: ResponseStats, times: StageTimes) -> ScoredChunk:
    with times.timed("score (catalogue look-ups, credit)"):
        values = scorer.values_column(parsed, chunk.targets)
    with times.timed("score records"):
        n = len(chunk.ids)
        statuses = list(map(_STATUS, parsed))
        table = ScoreTable.from_columns(chunk.ids, chunk.groups, statuses, values)
        columns = {
            "sample_id": chunk.ids, "group": chunk.groups if chunk.groups is not None else [None] * n,
            "extra": chunk.extras if chunk.extras is not None else [{}] * n, "key": keys, "status": statuses,
            "reason": list(map(_REASON, parsed)), "answer": list(map(_VALUE, parsed)),
            "target": chunk.targets, "values": values,
        }
    with times.timed("JSON encode"):
        lines = encoder.lines(columns)
    return ScoredChunk(lines=lines, table=table, stats=stats, seconds=times.seconds)
