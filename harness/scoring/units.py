"""Per-unit outcomes of a metric: the units it counts (samples, or the groups a family names) and what each adds.

Every metric of a table is compared between two runs on its own units: a per-snippet metric snippet for snippet,
a per-query one query for query. A metric declares them as a ratio of per-unit sums, ``value = sum(numerator) /
sum(denominator)``: a share has numerator 0/1 and denominator 1 for the units it counts (0 for those it leaves
out); F1 has numerator 2 per true positive and denominator 2 TP + FP + FN per unit. The same form serves both
paired tests (aligned by unit id) and the published per-unit outcomes, from which the metric follows again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from harness.scoring.table import ScoreTable
else:
    from harness.lazy_imports import numpy as np  # imported at first use: see harness.lazy_imports

SAMPLE = "sample"
"""The unit of a metric over the samples themselves (one query each, or one item when there are no queries)."""


@dataclass(frozen=True)
class UnitOutcomes:
    """A metric's units in table order; the metric is ``sum(numerator) / sum(denominator)`` (``if_empty`` at 0)."""

    unit: str
    """What one unit is: ``sample``, or a family's name for the groups it counts (``snippet``)."""
    ids: tuple[str, ...]
    numerator: np.ndarray
    denominator: np.ndarray
    if_empty: float = math.nan
    """The metric's value when no unit enters its denominator (nan: undefined; a study's rule may say 0.0)."""

    def __post_init__(self) -> None:
        if not len(self.ids) == len(self.numerator) == len(self.denominator):
            raise ValueError("unit outcomes: ids, numerator and denominator differ in length")

    def value(self) -> float:
        total = float(self.denominator.sum())
        return float(self.numerator.sum()) / total if total > 0 else self.if_empty


UnitRule = Callable[["ScoreTable"], UnitOutcomes]


def declare_units(rule: UnitRule) -> Callable[[Any], Any]:
    """Marks a metric with the rule giving its per-unit outcomes (read by ``harness.scoring.metrics.unit_outcomes``)."""

    def mark(metric: Any) -> Any:
        metric.unit_outcomes = rule
        return metric

    return mark


def sample_outcomes(table: ScoreTable, hit: np.ndarray, among: np.ndarray | None = None) -> UnitOutcomes:
    """A share of samples: each sample is a unit, a success where ``hit``, counted where ``among`` (None: all)."""
    counted = np.ones(len(table), dtype=bool) if among is None else np.asarray(among, dtype=bool)
    return UnitOutcomes(SAMPLE, tuple(table.ids), (np.asarray(hit, dtype=bool) & counted).astype(float),
                        counted.astype(float))


def group_outcomes(unit: str, judged: Sequence[tuple[str, bool, bool]]) -> UnitOutcomes:
    """A share of groups: ``(group id, counted, success)`` per group, in the order the groups first appear."""
    ids = tuple(group for group, _, _ in judged)
    counted = np.fromiter((c for _, c, _ in judged), bool, len(judged))
    hit = np.fromiter((h for _, _, h in judged), bool, len(judged))
    return UnitOutcomes(unit, ids, (hit & counted).astype(float), counted.astype(float))
