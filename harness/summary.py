"""A run's summary: metrics with intervals, error counts, latency and tokens, from stored records only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from harness.scoring import ScoredSample, compute_metrics
from harness.store import RunManifest
from harness.tasks import Task

SUMMARY_FORMAT = 1


def _latency(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    latencies = np.array([r["latency_s"] for r in rows if r.get("latency_s") is not None], dtype=float)
    if latencies.size == 0:
        return {"mean_s": None, "p50_s": None, "p95_s": None, "seconds_per_item": None}
    # batched runners report the batch's wall time on each of its requests
    per_item = sum(r["latency_s"] / (r.get("n_batch") or 1) for r in rows if r.get("latency_s") is not None)
    return {
        "mean_s": round(float(latencies.mean()), 6),
        "p50_s": round(float(np.percentile(latencies, 50)), 6),
        "p95_s": round(float(np.percentile(latencies, 95)), 6),
        "seconds_per_item": round(per_item / latencies.size, 6),
    }


def _token_means(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    means: dict[str, float | None] = {}
    for field in ("n_prompt_tokens", "n_output_tokens", "n_reasoning_tokens"):
        values = [r[field] for r in rows if r.get(field) is not None]
        means[f"mean_{field}"] = round(sum(values) / len(values), 3) if values else None
    return means


def summarize(
    manifest: RunManifest, task: Task, scored: Sequence[ScoredSample], response_rows: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    rows = list(response_rows)
    metrics = compute_metrics(task.metrics, scored)
    return {
        "format": SUMMARY_FORMAT,
        "run_id": manifest.run_id,
        "task": task.name,
        "task_version": task.version,
        "family": task.family,
        "answer_kind": task.answer_kind,
        "variant": manifest.variant,
        "model": {
            "name": manifest.model.get("name"),
            "display_name": manifest.model.get("display_name") or manifest.model.get("name"),
            "runner": manifest.model.get("runner"),
            "metadata": manifest.model.get("metadata", {}),
            "reasoning": manifest.model.get("reasoning"),
            "model_id": manifest.model.get("model_id"),
            "revision": manifest.model.get("revision"),
            "adapter": (manifest.model.get("adapter") or {}).get("name"),
        },
        "model_config_hash": manifest.model_config_hash,
        "dataset": manifest.dataset,
        "upstream": manifest.upstream,
        "primary_metric": task.primary_metric,
        "metrics": {name: estimate.to_dict() for name, estimate in metrics.items()},
        "metric_order": list(task.metrics),
        "n_samples": len(scored),
        "status_counts": dict(sorted(Counter(s.status for s in scored).items())),
        "latency": _latency(rows),
        "tokens": _token_means(rows),
        "engine": manifest.engine,
        "hardware": manifest.hardware,
        "provenance": {
            "harness_version": manifest.harness_version,
            "git_commit": manifest.git_commit,
            "git_dirty": manifest.git_dirty,
            "prompt_template_hash": manifest.prompt_template_hash,
            "started_at": manifest.started_at,
            "finished_at": manifest.finished_at,
        },
    }
