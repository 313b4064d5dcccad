"""Stored responses -> scores.jsonl and summary.json, streamed: one sample's outputs in memory at a time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from harness.scoring import ModelOutput, ScoredSample, ScoreTable, score_stream
from harness.store import ResponseIndex, ResponseReader, RunManifest, RunStore
from harness.summary import ResponseStats, summarize
from harness.tasks import Sample, Task, TaskData


class Query(Protocol):
    """One stored request of a sample (a Request, or a line of an outputs file)."""

    @property
    def key(self) -> str: ...

    @property
    def query_item(self) -> Any: ...


def scored_row(sample: ScoredSample) -> dict[str, Any]:
    return {
        "sample_id": sample.sample_id,
        "group": sample.group,
        "extra": sample.extra,
        "key": sample.key,
        "status": sample.status,
        "reason": sample.reason,
        "answer": sample.answer,
        "target": sample.target,
        "values": sample.values,
    }


def _stored_outputs(
    samples: Sequence[Sample], queries: Mapping[str, Sequence[Query]], index: ResponseIndex, reader: ResponseReader,
    stats: ResponseStats,
) -> Iterator[tuple[Sample, list[ModelOutput]]]:
    """Each sample with the latest stored response of each of its queries, in query order; older keys are ignored."""
    for sample in samples:
        outputs = []
        for query in queries.get(sample.id, ()):
            offset = index.offsets.get(query.key)
            if offset is None:
                continue
            row = reader.read_at(offset)
            stats.add(row)
            outputs.append(ModelOutput(text=row.get("text") or "", key=query.key, error=row.get("error"),
                                       item=query.query_item, reasoning_truncated=bool(row.get("reasoning_truncated"))))
        yield sample, outputs


def score_stored(
    store: RunStore, manifest: RunManifest, task: Task, data: TaskData, queries: Mapping[str, Sequence[Query]],
    index: ResponseIndex | None = None,
) -> dict[str, Any]:
    """Score the stored responses of ``queries`` (sample id -> its queries), write scores and summary, return the summary."""
    index = index if index is not None else store.response_index()
    table = ScoreTable()
    stats = ResponseStats()
    variant = task.variants.get(manifest.variant)  # None for outputs scored from a file (variant 'external')

    def rows() -> Iterator[dict[str, Any]]:
        with store.open_responses() as reader:
            for scored in score_stream(task, _stored_outputs(data.samples, queries, index, reader, stats), variant):
                table.add(scored.sample_id, scored.group, scored.status, scored.values)
                yield scored_row(scored)

    store.write_scores(rows())
    summary = summarize(manifest, task, table, stats)
    store.write_summary(summary)
    return summary
