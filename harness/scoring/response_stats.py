"""Latency and token counts of a run's stored responses, gathered while scoring streams past them."""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
else:
    from harness.lazy_imports import numpy as np  # imported at first use: see harness.lazy_imports


def _sum_in_order(values: array) -> float:
    # a plain left-to-right sum, as the figure was always computed (sum() of floats is compensated from Python 3.12)
    total = 0.0
    for value in values:
        total += value
    return total


class ResponseStats:
    """Latency and token counts of the responses a summary covers, collected while they stream past."""

    _TOKEN_FIELDS = ("n_prompt_tokens", "n_output_tokens", "n_reasoning_tokens")
    _FIELDS = frozenset({"latency_s", *_TOKEN_FIELDS})

    def __init__(self) -> None:
        self.latencies = array("d")
        self.per_item = array("d")
        """Each response's share of the engine call that answered it (its batch's wall time over the batch size)."""
        self.unbatched_latency_max = 0.0
        self.tokens = {field: array("d") for field in self._TOKEN_FIELDS}

    def add(self, row: dict[str, Any]) -> None:
        latency = row.get("latency_s")
        if latency is not None:
            self.latencies.append(latency)
            if row.get("share_s") is not None:
                self.per_item.append(row["share_s"])
            elif row.get("batch_s") is not None and row.get("n_batch"):
                self.per_item.append(row["batch_s"] / row["n_batch"])
            elif row.get("n_batch"):
                # batched runners report the batch's wall time on each of its requests
                self.per_item.append(latency / row["n_batch"])
            else:
                # a request's own latency with no batch recorded (vLLM rows stored before batch_s): the run's
                # pending requests went to the engine in one call, so that call lasted about as long as its slowest
                # request; summing the latencies would count the overlapping requests' time many times over
                self.unbatched_latency_max = max(self.unbatched_latency_max, latency)
        for field, values in self.tokens.items():
            if row.get(field) is not None:
                values.append(row[field])

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """``add`` each row; rows without any of the fields (an outputs file's) cost one look at each."""
        if not all(map(self._FIELDS.isdisjoint, rows)):
            for row in rows:
                self.add(row)

    def extend(self, other: "ResponseStats") -> None:
        """Append the responses of ``other`` (a chunk's) after these; sums stay in response order."""
        self.latencies.extend(other.latencies)
        self.per_item.extend(other.per_item)
        self.unbatched_latency_max = max(self.unbatched_latency_max, other.unbatched_latency_max)
        for field, values in self.tokens.items():
            values.extend(other.tokens[field])

    def latency(self) -> dict[str, float | None]:
        latencies = np.frombuffer(self.latencies, dtype=float) if self.latencies else np.array([])
        if latencies.size == 0:
            return {"mean_s": None, "p50_s": None, "p95_s": None, "seconds_per_item": None}
        return {
            "mean_s": round(float(latencies.mean()), 6),
            "p50_s": round(float(np.percentile(latencies, 50)), 6),
            "p95_s": round(float(np.percentile(latencies, 95)), 6),
            "seconds_per_item": round((_sum_in_order(self.per_item) + self.unbatched_latency_max) / latencies.size, 6),
        }

    def token_means(self) -> dict[str, float | None]:
        return {f"mean_{field}": round(sum(values) / len(values), 3) if values else None for field, values in self.tokens.items()}
