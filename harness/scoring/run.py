"""A run's scoring: stored responses -> per-sample scores and the run summary, streamed a chunk of samples at a time
(``chunks``, in worker processes for a large run: ``workers``); the summary holds metrics with intervals, error counts,
latency and tokens, from stored records only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from harness.gc_pacing import paced_collector
from harness.scoring import ScoreTable, compute_metrics
from harness.scoring.chunks import Query, ScoredChunk, chunks_of
from harness.scoring.response_stats import ResponseStats
from harness.scoring.stages import StageTimes
from harness.scoring.workers import ScoringPool, scoring_workers
from harness.store import ModelSummary, ResponseIndex, RunManifest, RunStore, RunSummary
from harness.config.tasks import Task, Variant
from harness.data import TaskData

__all__ = ["Query", "ResponseStats", "model_summary", "score_stored", "summarize", "write_scored_chunks", "write_summary"]


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


@paced_collector()
def score_stored(
    store: RunStore, manifest: RunManifest, task: Task, variant: Variant | None, data: TaskData,
    queries: Mapping[str, Sequence[Query]], index: ResponseIndex | None = None, workers: int | None = None,
    times: StageTimes | None = None,
) -> RunSummary:
    """Score the stored responses of ``queries`` (sample id -> its queries), write scores and summary, return the summary.

    ``variant``: the run's variant (its parser overrides the task's); None for outputs scored from a file without one.
    ``workers``: processes that score chunks of samples (None: chosen by the run's size, ``scoring_workers``); the
    files are the same bytes whatever the number. ``times`` collects the CPU seconds per stage.
    """
    times = times if times is not None else StageTimes()
    if index is None:
        with times.timed("index stored responses"):
            index = store.response_index()
    with ScoringPool(task, variant, scoring_workers(workers, len(data.samples))) as pool:
        chunks = chunks_of(data.samples, queries, index, times=times)
        with store.scores_writer() as write:
            table, stats = write_scored_chunks(pool.scored(chunks, store.responses_path, times), write, times)
            finishing = time.process_time()
        times.add("write scores", time.process_time() - finishing)  # flushed, synced and renamed into place
    return write_summary(store, manifest, task, table, stats, times)


def write_scored_chunks(
    scored: Iterable[ScoredChunk], write: Callable[[bytes], Any], times: StageTimes,
) -> tuple[ScoreTable, ResponseStats]:
    """Write each scored chunk's lines in order and join their columns: the run's score table and response stats."""
    table = ScoreTable()
    stats = ResponseStats()
    for chunk in scored:
        with times.timed("join chunks"):
            table.extend(chunk.table)
            stats.extend(chunk.stats)
            times.merge(chunk.seconds)
        with times.timed("write scores"):
            write(chunk.lines)
    return table, stats


def write_summary(
    store: RunStore, manifest: RunManifest, task: Task, table: ScoreTable, stats: ResponseStats, times: StageTimes,
) -> RunSummary:
    """The metrics of the joined table, written as the run's summary."""
    with times.timed("metrics + summary"):
        summary = summarize(manifest, task, table, stats)
        store.write_summary(summary)
    return summary
