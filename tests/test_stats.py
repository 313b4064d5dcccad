"""harness/stats.py: intervals (Wilson, Clopper-Pearson, bootstrap, cluster bootstrap), paired tests
(McNemar, paired bootstrap), Holm's adjustment and ranks with ties, against textbook values."""

from __future__ import annotations

import math

import pytest

from harness.stats import bootstrap_interval, ranks_with_ties, wilson_interval


def test_wilson_textbook_value() -> None:
    # Wilson 95% interval for 8/10 (Newcombe 1998, method 3): 0.4902 to 0.9433
    est = wilson_interval(8, 10)
    assert est.value == pytest.approx(0.8)
    assert est.lo == pytest.approx(0.4902, abs=1e-4)
    assert est.hi == pytest.approx(0.9433, abs=1e-4)


def test_wilson_edges() -> None:
    assert wilson_interval(0, 10).lo == pytest.approx(0.0, abs=1e-12)
    assert wilson_interval(10, 10).hi == pytest.approx(1.0, abs=1e-12)
    assert math.isnan(wilson_interval(0, 0).value)


def test_bootstrap_is_seeded() -> None:
    import numpy as np

    data = np.array([1, 0, 1, 1, 0, 1, 0, 1], dtype=float)
    a = bootstrap_interval(data, lambda stack: stack.mean(axis=-1))
    b = bootstrap_interval(data, lambda stack: stack.mean(axis=-1))
    assert (a.lo, a.hi) == (b.lo, b.hi)
    assert a.value == pytest.approx(5 / 8)


def test_ranks_with_ties() -> None:
    # A [0.8, 0.9] is above C's whole interval, B overlaps both
    intervals = [(0.8, 0.9), (0.6, 0.85), (0.5, 0.7)]
    assert ranks_with_ties(intervals) == [1, 1, 2]


def test_clopper_pearson_matches_the_studys_ceiling() -> None:
    from harness.stats import clopper_pearson_interval

    # Lenz et al.: the label-quality ceiling 60-79 % exact and 81-94 % partial are the
    # Clopper-Pearson intervals of 70/100 and 89/100
    exact, partial = clopper_pearson_interval(70, 100), clopper_pearson_interval(89, 100)
    assert (round(exact.lo, 2), round(exact.hi, 2)) == (0.60, 0.79)
    assert (round(partial.lo, 2), round(partial.hi, 2)) == (0.81, 0.94)


def test_mcnemar_exact_textbook() -> None:
    from scipy.stats import binomtest

    from harness.stats import mcnemar_exact

    # discordant pairs 10 vs 2: two-sided exact binomial p = 0.0386 (e.g. Fagerland et al. 2013, exact McNemar)
    assert mcnemar_exact(10, 2) == pytest.approx(0.03857, abs=1e-4)
    assert mcnemar_exact(10, 2) == pytest.approx(binomtest(2, 12, 0.5).pvalue)
    assert mcnemar_exact(0, 0) == 1.0


def test_paired_comparison() -> None:
    from harness.stats import paired_comparison

    a = [1] * 30 + [0] * 10 + [1] * 10 + [0] * 50
    b = [1] * 30 + [0] * 10 + [0] * 10 + [1] * 2 + [0] * 48
    result = paired_comparison(a, b)
    assert (result.only_a, result.only_b, result.n) == (10, 2, 100)
    assert result.difference == pytest.approx(0.08)
    assert result.lo < 0.08 < result.hi and result.lo > 0


def test_holm_adjustment_textbook() -> None:
    from harness.stats import holm_adjust

    # Holm (1979) step-down: p = 0.01, 0.04, 0.03, 0.005 with m = 4
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_cluster_bootstrap_moves_clusters_together() -> None:
    import numpy as np

    from harness.stats import cluster_bootstrap_interval

    values = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=float)
    clusters = ["a", "a", "a", "a", "b", "b", "b", "b"]
    est = cluster_bootstrap_interval(values, clusters)
    assert est.value == pytest.approx(0.5)
    # two clusters: a resample holds a twice, b twice, or one each -> only 0, 0.5 and 1 are possible
    assert (est.lo, est.hi) == (0.0, 1.0)
    same = cluster_bootstrap_interval(values, clusters)
    assert (same.lo, same.hi) == (est.lo, est.hi)


def test_mcnemar_for_many_pairs_equals_scipy_binomtest() -> None:
    import numpy as np
    from scipy.stats import binomtest

    from harness.stats import mcnemar_exact_many

    grid = [(a, b) for a in range(0, 25) for b in range(0, 25)]
    many = mcnemar_exact_many(np.array([a for a, _ in grid]), np.array([b for _, b in grid]))
    for (a, b), p in zip(grid, many):
        expected = 1.0 if a + b == 0 else binomtest(a, a + b, 0.5).pvalue
        assert p == pytest.approx(expected, rel=1e-9, abs=1e-12), (a, b)


def test_all_pairs_at_once_equal_one_pair_at_a_time() -> None:
    import numpy as np

    from harness.stats import paired_comparisons

    rng = np.random.default_rng(3)
    correct = (rng.random((300, 6)) < np.linspace(0.3, 0.8, 6)).astype(int)
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    together = paired_comparisons(correct, pairs)
    for (i, j), result in zip(pairs, together):
        # the textbook loop: the same item draws, the mean difference per resample
        diff = (correct[:, i] - correct[:, j]).astype(float)
        draws = np.random.default_rng(0).integers(0, 300, size=(2000, 300))
        lo, hi = np.quantile(diff[draws].mean(axis=1), [0.025, 0.975])
        assert (result.lo, result.hi) == pytest.approx((lo, hi), abs=1e-12)
        assert result.difference == pytest.approx(diff.mean())
        assert result.only_a == int(((correct[:, i] == 1) & (correct[:, j] == 0)).sum())


def test_bootstraps_in_blocks_equal_one_draw(monkeypatch) -> None:
    """A large bootstrap runs block by block (bounded memory) and gives exactly the one-draw result."""
    import numpy as np

    from harness import stats

    rng = np.random.default_rng(5)
    values = (rng.random(301) < 0.6).astype(float)
    clusters = [f"c{i // 3}" for i in range(301)]
    correct = (rng.random((301, 3)) < 0.5).astype(int)

    def run() -> tuple:
        mean = stats.bootstrap_interval(values, lambda stack: stack.mean(axis=-1))
        cluster = stats.cluster_bootstrap_interval(values, clusters)
        paired = stats.paired_comparisons(correct, [(0, 1), (1, 2)])
        return (mean.lo, mean.hi, cluster.lo, cluster.hi, *[bound for p in paired for bound in (p.lo, p.hi)])

    whole = run()
    stats._whole_draws.cache_clear()
    monkeypatch.setattr(stats, "BLOCK_ELEMENTS", 301 * 7)  # 7 resamples per block, 286 blocks
    assert run() == pytest.approx(whole, abs=1e-12)


def test_ratio_pairs_at_once_equal_the_textbook_loop() -> None:
    """Paired bootstrap of a ratio sum(numerator) / sum(denominator) (F1, a share among a run's own answered items):
    every pair at once equals a loop over the same draws, one pair at a time; p is twice the smaller tail (+1)."""
    import numpy as np

    from harness.stats import paired_ratio_comparisons

    rng = np.random.default_rng(11)
    denominator = (rng.random((120, 4)) < np.linspace(0.5, 0.9, 4)).astype(float)
    numerator = denominator * (rng.random((120, 4)) < np.linspace(0.4, 0.8, 4))
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    together = paired_ratio_comparisons(numerator, denominator, pairs)
    draws = np.random.default_rng(0).integers(0, 120, size=(2000, 120))
    for (i, j), result in zip(pairs, together):
        ratio = lambda col, d: numerator[d, col].sum(axis=-1) / denominator[d, col].sum(axis=-1)
        differences = ratio(i, draws) - ratio(j, draws)
        lo, hi = np.quantile(differences, [0.025, 0.975])
        assert result.method == "bootstrap" and result.n == 120
        assert result.difference == pytest.approx(ratio(i, np.arange(120)) - ratio(j, np.arange(120)))
        assert (result.lo, result.hi) == pytest.approx((lo, hi), abs=1e-12)
        tail = min((differences <= 0).sum(), (differences >= 0).sum())
        assert result.p_value == pytest.approx(min(1.0, 2 * (tail + 1) / 2001))


def test_unit_comparisons_pick_mcnemar_only_for_binary_outcomes_on_the_same_units() -> None:
    """Same counted units and 0/1 outcomes: McNemar over the counted units only; a different denominator or a
    non-binary outcome: the ratio bootstrap. Results come back in the order of the pairs."""
    import numpy as np

    from harness.stats import mcnemar_exact, paired_unit_comparisons

    numerator = np.array([[1, 0, 1, 2], [1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 1, 2], [0, 1, 0, 0]], dtype=float)
    denominator = np.array([[1, 1, 1, 2], [1, 1, 1, 1], [0, 0, 1, 0], [1, 1, 1, 2], [1, 1, 1, 1]], dtype=float)
    pairs = [(0, 1), (0, 2), (2, 3), (1, 0)]
    same, other_units, not_binary, reversed_pair = paired_unit_comparisons(numerator, denominator, pairs)
    # systems 0 and 1 count units 0, 1, 3, 4 (unit 2 is left out by both): 3/4 vs 2/4
    assert same.method == "mcnemar" and same.n == 4 and same.difference == pytest.approx(0.75 - 0.5)
    assert same.p_value == pytest.approx(mcnemar_exact(2, 1))
    assert reversed_pair.method == "mcnemar" and reversed_pair.difference == pytest.approx(-0.25)
    assert other_units.method == "bootstrap" and other_units.difference == pytest.approx(3 / 4 - 2 / 5)
    assert not_binary.method == "bootstrap" and not_binary.difference == pytest.approx(2 / 5 - 4 / 6)


def test_wilson_without_scipy_gives_scipys_floats() -> None:
    """The interval computed here (no scipy.stats import) is scipy's, float for float, at every small n and at large
    random ones; the stored normal quantile is scipy's."""
    import random

    from scipy.special import ndtri
    from scipy.stats import binomtest

    from harness.stats import NORMAL_QUANTILES

    assert all(z == float(ndtri(q)) for q, z in NORMAL_QUANTILES.items())
    rng = random.Random(5)
    pairs = [(k, n) for n in range(1, 120) for k in range(n + 1)]
    pairs += [(rng.randrange(n + 1), n) for n in (rng.randrange(1, 5_000_000) for _ in range(3000))]
    for k, n in pairs:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        est = wilson_interval(k, n)
        assert (est.value, est.lo, est.hi) == (k / n, float(ci.low), float(ci.high)), (k, n)
    assert wilson_interval(3, 10, confidence=0.9).lo == pytest.approx(
        float(binomtest(3, 10).proportion_ci(confidence_level=0.9, method="wilson").low), abs=0)  # scipy's own
