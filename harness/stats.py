"""Confidence intervals and ranks."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float
    lo: float
    hi: float
    n: int
    method: str

    def to_dict(self) -> dict[str, float | int | str | None]:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 6)

        return {"value": clean(self.value), "lo": clean(self.lo), "hi": clean(self.hi), "n": self.n, "method": self.method}


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """Wilson score interval for a proportion (scipy's implementation)."""
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, "wilson")
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Estimate(successes / n, float(ci.low), float(ci.high), n, "wilson")


def bootstrap_interval(
    rows: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap; ``statistic`` maps an (R, n, ...) stack of resamples to R values."""
    n = len(rows)
    point = float(statistic(rows[None, ...])[0])
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, "bootstrap")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, size=(n_resamples, n))
    values = statistic(rows[index])
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return Estimate(point, math.nan, math.nan, n, "bootstrap")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return Estimate(point, float(lo), float(hi), n, "bootstrap")


def ranks_with_ties(intervals: Sequence[tuple[float, float]]) -> list[int]:
    """Rank = 1 + number of rows whose interval lies entirely above this row's interval."""
    ranks = []
    for lo, hi in intervals:
        if math.isnan(hi):
            ranks.append(len(intervals))
            continue
        ranks.append(1 + sum(1 for other_lo, _ in intervals if not math.isnan(other_lo) and other_lo > hi))
    return ranks
