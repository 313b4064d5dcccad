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


def _proportion_interval(successes: int, n: int, confidence: float, method: str, label: str) -> Estimate:
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, label)
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method=method)
    return Estimate(successes / n, float(ci.low), float(ci.high), n, label)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """Wilson score interval for a proportion (scipy's implementation)."""
    return _proportion_interval(successes, n, confidence, "wilson", "wilson")


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


def clopper_pearson_interval(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """Exact (Clopper-Pearson) interval for a proportion (scipy's implementation)."""
    return _proportion_interval(successes, n, confidence, "exact", "clopper-pearson")


def cluster_bootstrap_interval(
    values: np.ndarray,
    clusters: Sequence[str],
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap that resamples whole clusters (a snippet's several answers move together).

    ``statistic(sums, counts)`` gets per-resample sums and counts over the drawn clusters (shape R);
    the default is the mean of ``values`` over all items.
    """
    labels, index = np.unique(np.asarray(clusters), return_inverse=True)
    sums = np.bincount(index, weights=values.astype(float), minlength=len(labels))
    counts = np.bincount(index, minlength=len(labels)).astype(float)
    stat = statistic or (lambda s, c: s / c)
    point = float(stat(sums.sum()[None], counts.sum()[None])[0]) if len(values) else math.nan
    if len(labels) == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, "cluster-bootstrap")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(labels), size=(n_resamples, len(labels)))
    resampled = stat(sums[draws].sum(axis=1), counts[draws].sum(axis=1))
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(resampled, [alpha, 1 - alpha])
    return Estimate(point, float(lo), float(hi), len(values), "cluster-bootstrap")


@dataclass(frozen=True, slots=True)
class PairedComparison:
    """Two models on the same items: difference in accuracy (a - b), its interval, the exact McNemar p."""

    n: int
    only_a: int
    only_b: int
    difference: float
    lo: float
    hi: float
    p_value: float
    p_holm: float = math.nan


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Exact McNemar test: a two-sided binomial test on the discordant pairs (p = 1 without any)."""
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_a, discordant, 0.5, alternative="two-sided").pvalue)


def paired_comparison(
    correct_a: Sequence[int], correct_b: Sequence[int], n_resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> PairedComparison:
    """McNemar exact test and a paired percentile bootstrap of the accuracy difference (same items)."""
    a = np.asarray(correct_a, dtype=float)
    b = np.asarray(correct_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("paired comparison needs the same items for both")
    only_a = int(((a == 1) & (b == 0)).sum())
    only_b = int(((a == 0) & (b == 1)).sum())
    diff = a - b
    point = float(diff.mean()) if len(diff) else math.nan
    if len(diff):
        rng = np.random.default_rng(seed)
        means = diff[rng.integers(0, len(diff), size=(n_resamples, len(diff)))].mean(axis=1)
        alpha = (1 - confidence) / 2
        lo, hi = (float(x) for x in np.quantile(means, [alpha, 1 - alpha]))
    else:
        lo = hi = math.nan
    return PairedComparison(len(diff), only_a, only_b, point, lo, hi, mcnemar_exact(only_a, only_b))


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in the input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    m = len(p_values)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
