"""Confidence intervals and ranks."""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
else:
    from harness.lazy_imports import numpy as np  # imported at first use: see harness.lazy_imports


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


NORMAL_QUANTILES = {0.975: 1.959963984540054}
"""``scipy.special.ndtri`` at the quantiles of the usual intervals (0.975: a two-sided 95% interval), so that a Wilson
interval needs no import of scipy.stats (a second of every scoring); tests/test_stats.py checks them against scipy."""


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """Wilson score interval for a proportion: scipy's (``binomtest(k, n).proportion_ci(method="wilson")``), computed
    here with scipy's formula in scipy's order of operations, so the same floats, where the normal quantile is known."""
    quantile = 0.5 + 0.5 * confidence
    z = NORMAL_QUANTILES.get(quantile)
    if n == 0 or z is None:
        return _proportion_interval(successes, n, confidence, "wilson", "wilson")
    k, n = operator.index(successes), operator.index(n)
    if not 0 <= k <= n:
        return _proportion_interval(successes, n, confidence, "wilson", "wilson")  # scipy's error
    # scipy.stats._binomtest._binom_wilson_conf_int (Newcombe 1998), without continuity correction
    p = k / n
    denom = 2 * (n + z**2)
    center = (2 * n * p + z**2) / denom
    q = 1 - p
    delta = z / denom * math.sqrt(4 * n * p * q + z**2)
    lo = 0.0 if k == 0 else center - delta
    hi = 1.0 if k == n else center + delta
    return Estimate(successes / n, lo, hi, n, "wilson")


BLOCK_ELEMENTS = 4_000_000
"""Resampled indices held at once (32 MB); a larger bootstrap runs block by block on the same random stream."""


@lru_cache(maxsize=4)
def _whole_draws(n: int, n_resamples: int, seed: int) -> np.ndarray:
    draws = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    draws.setflags(write=False)
    return draws


def bootstrap_draws(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """The item indices of every resample, as blocks of whole resamples (resamples x n).

    The blocks are the rows of one (n_resamples, n) draw with this seed, so results do not depend on
    the block size; a draw that fits in one block is kept and shared by every run of the same size.
    """
    if n * n_resamples <= BLOCK_ELEMENTS:
        yield _whole_draws(n, n_resamples, seed)
        return
    rng = np.random.default_rng(seed)
    step = max(1, BLOCK_ELEMENTS // n)
    for start in range(0, n_resamples, step):
        yield rng.integers(0, n, size=(min(step, n_resamples - start), n))


def _counts(draws: np.ndarray, n: int) -> np.ndarray:
    """How often each item is drawn in each resample of a block (resamples x n)."""
    rows = draws.shape[0]
    return np.bincount((draws + n * np.arange(rows)[:, None]).ravel(), minlength=rows * n).reshape(rows, n).astype(float)


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
    values = np.concatenate([statistic(rows[draws]) for draws in bootstrap_draws(n, n_resamples, seed)])
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return Estimate(point, math.nan, math.nan, n, "bootstrap")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return Estimate(point, float(lo), float(hi), n, "bootstrap")


def stratified_mean_interval(
    strata: Sequence[tuple[np.ndarray, np.ndarray]],
    if_empty: float | Sequence[float] = math.nan,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """The mean over strata (tasks) of each stratum's ratio metric ``sum(numerator) / sum(denominator)`` over its
    units, with a stratified percentile bootstrap: every resample draws units with replacement within each stratum,
    independently of the other strata (stratum ``k`` on its own stream, seed ``seed + k``), recomputes each
    stratum's ratio and averages them. The strata are fixed (the tasks are not a sample of tasks), so the interval
    says how much the mean would move with other items of the same tasks. Averaging the strata's own interval bounds
    instead would add up their widths as if the tasks' errors always went the same way.

    ``strata``: per stratum its per-unit numerators and denominators (a share counts 1/1, 0/1, or 0/0 for a unit it
    leaves out). ``if_empty``: the ratio where a stratum's denominators sum to 0 (one for all strata or one per
    stratum; nan: undefined, and a resample where any stratum is undefined is dropped). ``n`` of the estimate is the
    number of units in all strata."""
    if not strata:
        return Estimate(math.nan, math.nan, math.nan, 0, "stratified-bootstrap")
    empty = [float(if_empty)] * len(strata) if isinstance(if_empty, (int, float)) else [float(x) for x in if_empty]
    if len(empty) != len(strata):
        raise ValueError(f"if_empty: {len(empty)} values for {len(strata)} strata")
    points = []
    resampled = np.zeros(n_resamples)
    for k, ((numerator, denominator), when_empty) in enumerate(zip(strata, empty)):
        numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
        n = len(numerator)
        if n == 0 or len(denominator) != n:
            raise ValueError(f"stratum {k}: needs as many numerators as denominators, at least one")
        points.append(float(_ratio(numerator.sum()[None], denominator.sum()[None], when_empty)[0]))
        ratios = [_ratio(counts @ numerator, counts @ denominator, when_empty)
                  for counts in (_counts(draws, n) for draws in bootstrap_draws(n, n_resamples, seed + k))]
        resampled += np.concatenate(ratios)
    resampled /= len(strata)
    point = float(np.mean(points))
    defined = resampled[~np.isnan(resampled)]
    if len(defined) == 0:
        return Estimate(point, math.nan, math.nan, sum(len(num) for num, _ in strata), "stratified-bootstrap")
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(defined, [alpha, 1 - alpha])
    return Estimate(point, float(lo), float(hi), sum(len(num) for num, _ in strata), "stratified-bootstrap")


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
    resampled = np.concatenate([stat(sums[draws].sum(axis=1), counts[draws].sum(axis=1))
                                for draws in bootstrap_draws(len(labels), n_resamples, seed)])
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(resampled, [alpha, 1 - alpha])
    return Estimate(point, float(lo), float(hi), len(values), "cluster-bootstrap")


@dataclass(frozen=True, slots=True)
class PairedComparison:
    """Two models on the same units: difference of the metric (a - b), its paired-bootstrap interval and a p-value."""

    n: int
    only_a: int
    only_b: int
    difference: float
    lo: float
    hi: float
    p_value: float
    method: str = "mcnemar"
    """``mcnemar``: exact McNemar p on binary outcomes of the same units (``only_a``/``only_b`` its discordant
    counts); ``bootstrap``: p from the paired bootstrap of the metric itself (a ratio such as F1; no discordant counts)."""


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
    return paired_comparisons(np.stack([a, b], axis=1), [(0, 1)], n_resamples, seed, confidence)[0]


def mcnemar_exact_many(only_a: np.ndarray, only_b: np.ndarray) -> np.ndarray:
    """``mcnemar_exact`` for arrays of pairs: with p = 0.5 the two-sided binomial p is twice the smaller tail."""
    from scipy.stats import binom

    only_a, only_b = np.asarray(only_a), np.asarray(only_b)
    discordant = only_a + only_b
    tail = binom.cdf(np.minimum(only_a, only_b), discordant, 0.5)
    return np.where(discordant == 0, 1.0, np.minimum(1.0, 2 * tail))


def paired_comparisons(
    correct: np.ndarray, pairs: Sequence[tuple[int, int]], n_resamples: int = 2000, seed: int = 0,
    confidence: float = 0.95, chunk: int = 512,
) -> list[PairedComparison]:
    """Paired comparisons of many systems on the same items at once; ``correct`` is items x systems (0/1).

    Every pair uses the same bootstrap draws of items (as one pair at a time with this seed would),
    so one (resamples x items) count matrix times the correctness matrix gives every system's
    resampled accuracy; a pair's resampled difference is then a column difference.
    """
    correct = np.asarray(correct, dtype=float)
    n, _ = correct.shape
    if not pairs:
        return []
    left = np.array([i for i, _ in pairs])
    right = np.array([j for _, j in pairs])
    only_a = ((correct[:, left] == 1) & (correct[:, right] == 0)).sum(axis=0)
    only_b = ((correct[:, left] == 0) & (correct[:, right] == 1)).sum(axis=0)
    p_values = mcnemar_exact_many(only_a, only_b)
    if n == 0:
        return [PairedComparison(0, 0, 0, math.nan, math.nan, math.nan, 1.0) for _ in pairs]
    points = correct[:, left].mean(axis=0) - correct[:, right].mean(axis=0)
    # resamples x systems: each block's draw counts times the correctness matrix
    resampled = np.vstack([_counts(draws, n) @ correct / n for draws in bootstrap_draws(n, n_resamples, seed)])
    alpha = (1 - confidence) / 2
    bounds = np.empty((2, len(pairs)))
    for start in range(0, len(pairs), chunk):
        part = slice(start, start + chunk)
        bounds[:, part] = np.quantile(resampled[:, left[part]] - resampled[:, right[part]], [alpha, 1 - alpha], axis=0)
    return [
        PairedComparison(n, int(only_a[k]), int(only_b[k]), float(points[k]), float(bounds[0, k]), float(bounds[1, k]),
                         float(p_values[k]))
        for k in range(len(pairs))
    ]


def bootstrap_p_value(resampled: np.ndarray) -> np.ndarray:
    """Two-sided p per column of resampled differences: twice the smaller share at or beyond zero on either side,
    counted with one more draw each (so never 0 from a finite bootstrap), capped at 1; a column of NaN gives 1."""
    finite = ~np.isnan(resampled)
    total = finite.sum(axis=0)
    below = ((resampled <= 0) & finite).sum(axis=0)
    above = ((resampled >= 0) & finite).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * (np.minimum(below, above) + 1) / (total + 1)
    return np.where(total > 0, np.minimum(1.0, p), 1.0)


def _ratio(numerator: np.ndarray, denominator: np.ndarray, if_empty: float) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), if_empty)


def paired_ratio_comparisons(
    numerator: np.ndarray, denominator: np.ndarray, pairs: Sequence[tuple[int, int]], if_empty: float = math.nan,
    n_resamples: int = 2000, seed: int = 0, confidence: float = 0.95,
) -> list[PairedComparison]:
    """Paired bootstrap of a ratio metric ``sum(numerator) / sum(denominator)`` (units x systems each), such as F1 or a
    share whose denominator differs between the systems: each resample draws units, and both systems of a pair are
    recomputed on the same draw; the interval is the percentile one of the differences and the p-value
    ``bootstrap_p_value`` of them. ``if_empty``: the metric where the denominator sums to 0 (nan: undefined, dropped)."""
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    n = numerator.shape[0]
    if not pairs:
        return []
    left = np.array([i for i, _ in pairs])
    right = np.array([j for _, j in pairs])
    values = _ratio(numerator.sum(axis=0), denominator.sum(axis=0), if_empty)
    points = values[left] - values[right]
    if n == 0:
        return [PairedComparison(0, 0, 0, math.nan, math.nan, math.nan, 1.0, "bootstrap") for _ in pairs]
    resampled = np.vstack([_ratio(counts @ numerator, counts @ denominator, if_empty)
                           for counts in (_counts(draws, n) for draws in bootstrap_draws(n, n_resamples, seed))])
    differences = resampled[:, left] - resampled[:, right]
    alpha = (1 - confidence) / 2
    with warnings.catch_warnings():  # a pair undefined in every resample: NaN bounds, said once on the page
        warnings.simplefilter("ignore", RuntimeWarning)
        bounds = np.nanquantile(differences, [alpha, 1 - alpha], axis=0)
    p_values = bootstrap_p_value(differences)
    return [PairedComparison(n, 0, 0, float(points[k]), float(bounds[0, k]), float(bounds[1, k]), float(p_values[k]),
                             "bootstrap") for k in range(len(pairs))]


def _binary(numerator: np.ndarray, denominator: np.ndarray) -> bool:
    """Outcomes a McNemar test can take: every unit counted or not (0/1) and, where counted, right or wrong (0/1)."""
    return bool(np.isin(denominator, (0, 1)).all() and np.isin(numerator, (0, 1)).all() and (numerator <= denominator).all())


def paired_unit_comparisons(
    numerator: np.ndarray, denominator: np.ndarray, pairs: Sequence[tuple[int, int]], if_empty: float = math.nan,
    n_resamples: int = 2000, seed: int = 0, confidence: float = 0.95,
) -> list[PairedComparison]:
    """Paired comparisons of systems on the same units, each on the metric ``sum(numerator) / sum(denominator)``
    (units x systems). A pair whose outcomes are binary and who count the same units is a mean of 0/1 outcomes
    over those units: exact McNemar and a paired bootstrap of the accuracy difference (``paired_comparisons``).
    Any other pair (F1, or a share among units that differ between the two, such as correct among answered) is
    compared by the paired bootstrap of the ratio itself (``paired_ratio_comparisons``)."""
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    results: dict[int, PairedComparison] = {}
    systems = range(numerator.shape[1])
    binary = {s for s in systems if _binary(numerator[:, s], denominator[:, s])}
    mean_pairs: dict[bytes, list[int]] = {}
    ratio_pairs = []
    for k, (a, b) in enumerate(pairs):
        key = denominator[:, a].tobytes()
        if a in binary and b in binary and key == denominator[:, b].tobytes():
            mean_pairs.setdefault(key, []).append(k)
        else:
            ratio_pairs.append(k)
    for ks in mean_pairs.values():
        counted = denominator[:, pairs[ks[0]][0]] == 1  # the units both systems of these pairs count
        outcomes = numerator[counted]
        for k, comparison in zip(ks, paired_comparisons(outcomes, [pairs[k] for k in ks], n_resamples, seed, confidence)):
            results[k] = comparison
    ratio = paired_ratio_comparisons(numerator, denominator, [pairs[k] for k in ratio_pairs], if_empty, n_resamples,
                                     seed, confidence)
    results.update(zip(ratio_pairs, ratio))
    return [results[k] for k in range(len(pairs))]


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
