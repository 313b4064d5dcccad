"""A run's scoring: stored responses -> per-sample scores and the run summary, streamed (one sample's outputs in memory
at a time); the summary holds metrics with intervals, error counts, latency and tokens, from stored records only."""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from harness.scoring import ModelOutput, ScoredSample, ScoreTable, compute_metrics, score_stream
from harness.store import ModelSummary, ResponseIndex, ResponseReader, RunManifest, RunStore, RunSummary
from harness.config.tasks import Task, Variant
from harness.data import Sample, TaskData



class ResponseStats:
    """Latency and token counts of the responses a summary covers, collected while they stream past."""

    _TOKEN_FIELDS = ("n_prompt_tokens", "n_output_tokens", "n_reasoning_tokens")

    def __init__(self) -> None:
        self.latencies = array("d")
        self.per_item_seconds = 0.0
        self.unbatched_latency_max = 0.0
        self.tokens = {field: array("d") for field in self._TOKEN_FIELDS}

    def add(self, row: dict[str, Any]) -> None:
        latency = row.get("latency_s")
        if latency is not None:
            self.latencies.append(latency)
            if row.get("batch_s") is not None and row.get("n_batch"):
                self.per_item_seconds += row["batch_s"] / row["n_batch"]
            elif row.get("n_batch"):
                # batched runners report the batch's wall time on each of its requests
                self.per_item_seconds += latency / row["n_batch"]
            else:
                # a request's own latency with no batch recorded (vLLM rows stored before batch_s): the run's
                # pending requests went to the engine in one call, so that call lasted about as long as its slowest
                # request; summing the latencies would count the overlapping requests' time many times over
                self.unbatched_latency_max = max(self.unbatched_latency_max, latency)
        for field, values in self.tokens.items():
            if row.get(field) is not None:
                values.append(row[field])

    def latency(self) -> dict[str, float | None]:
        latencies = np.frombuffer(self.latencies, dtype=float) if self.latencies else np.array([])
        if latencies.size == 0:
            return {"mean_s": None, "p50_s": None, "p95_s": None, "seconds_per_item": None}
        return {
            "mean_s": round(float(latencies.mean()), 6),
            "p50_s": round(float(np.percentile(latencies, 50)), 6),
            "p95_s": round(float(np.percentile(latencies, 95)), 6),
            "seconds_per_item": round((self.per_item_seconds + self.unbatched_latency_max) / latencies.size, 6),
        }

    def token_means(self) -> dict[str, float | None]:
        return {f"mean_{field}": round(sum(values) / len(values), 3) if values else None for field, values in self.tokens.items()}


def model_summary(model: dict[str, Any]) -> ModelSummary:
    """What a table row shows of a model config (the manifest's dict); ``onkobench validate`` derives it again."""
    return ModelSummary(
        name=model.get("name"), display_name=model.get("display_name") or model.get("name"), runner=model.get("runner"),
        metadata=model.get("metadata", {}), reasoning=model.get("reasoning"), model_id=model.get("model_id"),
        revision=model.get("revision"), adapter=(model.get("adapter") or {}).get("name"),
    )


def summarize(manifest: RunManifest, task: Task, table: ScoreTable, responses: ResponseStats) -> RunSummary:
    metrics = compute_metrics(task.metrics, table)
    model = manifest.model
    return RunSummary(
        run_id=manifest.run_id,
        task=task.name,
        task_version=task.version,
        family=task.family,
        answer_kind=task.answer_kind,
        variant=manifest.variant,
        model=model_summary(model),
        model_config_hash=manifest.model_config_hash,
        dataset=manifest.dataset,
        upstream=manifest.upstream,
        prompt_pack=manifest.prompt_pack,
        shard=manifest.shard,
        primary_metric=task.primary_metric,
        metrics={name: estimate.to_dict() for name, estimate in metrics.items()},
        metric_order=list(task.metrics),
        n_samples=len(table),
        status_counts=table.status_counts(),
        latency=responses.latency(),
        tokens=responses.token_means(),
        engine=manifest.engine,
        hardware=manifest.hardware,
        provenance={
            "harness_version": manifest.harness_version,
            "git_commit": manifest.git_commit,
            "git_dirty": manifest.git_dirty,
            "prompt_template_hash": manifest.prompt_template_hash,
            "started_at": manifest.started_at,
            "finished_at": manifest.finished_at,
        },
    )


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
    store: RunStore, manifest: RunManifest, task: Task, variant: Variant | None, data: TaskData,
    queries: Mapping[str, Sequence[Query]], index: ResponseIndex | None = None,
) -> RunSummary:
    """Score the stored responses of ``queries`` (sample id -> its queries), write scores and summary, return the summary.

    ``variant``: the run's variant (its parser overrides the task's); None for outputs scored from a file without one.
    """
    index = index if index is not None else store.response_index()
    table = ScoreTable()
    stats = ResponseStats()

    def rows() -> Iterator[dict[str, Any]]:
        with store.open_responses() as reader:
            for scored in score_stream(task, _stored_outputs(data.samples, queries, index, reader, stats), variant):
                table.add(scored.sample_id, scored.group, scored.status, scored.values)
                yield scored_row(scored)

    store.write_scores(rows())
    summary = summarize(manifest, task, table, stats)
    store.write_summary(summary)
    return summary
