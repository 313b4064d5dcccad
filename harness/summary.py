"""A run's summary: metrics with intervals, error counts, latency and tokens, from stored records only."""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np

from harness.scoring import ScoreTable, compute_metrics
from harness.store import RunManifest
from harness.tasks import Task

SUMMARY_FORMAT = 1


class ResponseStats:
    """Latency and token counts of the responses a summary covers, collected while they stream past."""

    _TOKEN_FIELDS = ("n_prompt_tokens", "n_output_tokens", "n_reasoning_tokens")

    def __init__(self) -> None:
        self.latencies = array("d")
        self.per_item_seconds = 0.0
        self.tokens = {field: array("d") for field in self._TOKEN_FIELDS}

    def add(self, row: dict[str, Any]) -> None:
        latency = row.get("latency_s")
        if latency is not None:
            self.latencies.append(latency)
            # batched runners report the batch's wall time on each of its requests
            self.per_item_seconds += latency / (row.get("n_batch") or 1)
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
            "seconds_per_item": round(self.per_item_seconds / latencies.size, 6),
        }

    def token_means(self) -> dict[str, float | None]:
        return {f"mean_{field}": round(sum(values) / len(values), 3) if values else None for field, values in self.tokens.items()}


def summarize(manifest: RunManifest, task: Task, table: ScoreTable, responses: ResponseStats) -> dict[str, Any]:
    metrics = compute_metrics(task.metrics, table)
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
        "n_samples": len(table),
        "status_counts": table.status_counts(),
        "latency": responses.latency(),
        "tokens": responses.token_means(),
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
