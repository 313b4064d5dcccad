"""Metrics: a table of scored samples -> Estimate with a 95% interval. Registered by name; the docstring is the help."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from harness.registry import Registry
from harness.scoring.table import ScoreTable
from harness.scoring.units import SAMPLE, UnitOutcomes, declare_units, sample_outcomes
from harness.stats import Estimate, bootstrap_interval, cluster_bootstrap_interval, wilson_interval

if TYPE_CHECKING:
    import numpy as np
else:
    from harness.lazy_imports import numpy as np  # imported at first use: see harness.lazy_imports


@dataclass(frozen=True, slots=True)
class ScoredSample:
    """One sample after parsing and scoring; a line of the run's stored scores."""

    sample_id: str
    key: str | None
    status: str
    reason: str
    answer: Any
    target: Any
    values: dict[str, Any] = field(default_factory=dict)
    group: str | None = None
    """The unit several samples belong to (the snippet of a step-2 query); None = the sample itself."""
    extra: dict[str, Any] = field(default_factory=dict)
    """The sample's chained-step fields, kept so that a later step can build on this one."""


Metric = Callable[[ScoreTable], Estimate]
METRICS: Registry[Metric] = Registry("metric")


def counts_failures(metric: Metric) -> Metric:
    """Marks a metric that is a share of bad outcomes: lower is better (every other metric: higher)."""
    metric.lower_is_better = True  # type: ignore[attr-defined]
    return metric


def lower_is_better(name: str) -> bool:
    """The direction a registered metric improves in, as its registration says."""
    return bool(getattr(METRICS.get(name), "lower_is_better", False))


def unit_outcomes(name: str, table: ScoreTable) -> UnitOutcomes | None:
    """The registered metric's per-unit outcomes on ``table``; None where the metric declares none (then runs cannot
    be compared pairwise on it)."""
    rule = getattr(METRICS.get(name), "unit_outcomes", None)
    return None if rule is None else rule(table)


def share_interval(table: ScoreTable, hit: np.ndarray, among: np.ndarray | None = None) -> Estimate:
    """A share with its 95% interval: Wilson, or a cluster bootstrap when one text gave several samples."""
    values = hit if among is None else hit[among]
    if not table.clusters_unique:
        clusters = table.clusters(among)
        if len(set(clusters)) < len(clusters):
            return cluster_bootstrap_interval(values.astype(float), clusters)
    return wilson_interval(int(values.sum()), int(values.size))


Share = tuple["np.ndarray", "np.ndarray | None"]
"""Per sample: whether it is a success, and whether it enters the denominator (None: every sample does)."""
ShareRule = Callable[[ScoreTable], Share]


def sample_share(
    interval: Callable[[ScoreTable, np.ndarray, np.ndarray | None], Estimate] = share_interval,
) -> Callable[[ShareRule], Metric]:
    """Turns a rule ``table -> (hit, among)`` into a metric (the share with ``interval``) that declares its samples as
    units: one rule gives both the number and the per-sample outcomes paired tests and published results use."""

    def wrap(rule: ShareRule) -> Metric:
        @functools.wraps(rule)
        def metric(table: ScoreTable) -> Estimate:
            return interval(table, *rule(table))

        metric.__annotations__ = {"table": ScoreTable, "return": Estimate}
        return declare_units(lambda table: sample_outcomes(table, *rule(table)))(metric)

    return wrap


def _wilson_share(table: ScoreTable, hit: np.ndarray, among: np.ndarray | None) -> Estimate:
    """Wilson on the counted samples, clusters ignored: the confusion-matrix rates keep the interval they had."""
    values = hit if among is None else hit[among]
    return wilson_interval(int(values.sum()), int(values.size))


@METRICS.register("accuracy")
@sample_share()
def accuracy(table: ScoreTable) -> Share:
    """Share of all samples answered correctly; malformed, empty and failed outputs count as wrong."""
    return table.flag("correct"), None


@METRICS.register("accuracy_wellformed")
@sample_share()
def accuracy_wellformed(table: ScoreTable) -> Share:
    """Share correct among samples whose output parsed (malformed ones left out)."""
    return table.flag("correct"), table.ok


@METRICS.register("p_malformed")
@counts_failures
@sample_share()
def p_malformed(table: ScoreTable) -> Share:
    """Share of samples whose output is empty, unparsable or cut off inside the reasoning."""
    return table.malformed, None


@METRICS.register("p_no_think_end")
@counts_failures
@sample_share()
def p_no_think_end(table: ScoreTable) -> Share:
    """Share of reasoning outputs cut off by the token budget before the end of thinking (no answer)."""
    return table.status_is("no_think_end"), None


@METRICS.register("p_error")
@counts_failures
@sample_share()
def p_error(table: ScoreTable) -> Share:
    """Share of samples with no model output (runner error or missing from an outputs file)."""
    return ~table.malformed & ~table.ok, None


@METRICS.register("partial_accuracy")
@sample_share()
def partial_accuracy(table: ScoreTable) -> Share:
    """Share of all samples whose code has the right first three characters (malformed = wrong)."""
    return table.flag("partial"), None


@METRICS.register("partial_accuracy_wellformed")
@sample_share()
def partial_accuracy_wellformed(table: ScoreTable) -> Share:
    """Share with the right first three characters among well-formed outputs."""
    return table.flag("partial"), table.ok


def _gold_predicted(table: ScoreTable) -> tuple[np.ndarray, np.ndarray]:
    """Gold and predicted labels of every sample (read together with ``table.ok``: the rates count well-formed ones)."""
    return table.flag("gold"), table.flag("predicted")


@METRICS.register("sensitivity")
@sample_share(_wilson_share)
def sensitivity(table: ScoreTable) -> Share:
    """Recall: TP / (TP + FN) on well-formed outputs."""
    gold, predicted = _gold_predicted(table)
    return predicted, table.ok & gold


@METRICS.register("specificity")
@sample_share(_wilson_share)
def specificity(table: ScoreTable) -> Share:
    """TN / (TN + FP) on well-formed outputs."""
    gold, predicted = _gold_predicted(table)
    return ~predicted, table.ok & ~gold


@METRICS.register("precision")
@sample_share(_wilson_share)
def precision(table: ScoreTable) -> Share:
    """TP / (TP + FP) on well-formed outputs."""
    gold, predicted = _gold_predicted(table)
    return gold, table.ok & predicted


def _f1_of_stack(stack: np.ndarray) -> np.ndarray:
    gold, predicted = stack[..., 0], stack[..., 1]
    tp = (gold & predicted).sum(axis=-1)
    fp = (~gold & predicted).sum(axis=-1)
    fn = (gold & ~predicted).sum(axis=-1)
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, np.nan)


def _f1_units(table: ScoreTable) -> UnitOutcomes:
    """F1 = 2 TP / (2 TP + FP + FN) as per-sample sums: a true positive adds 2 / 2, a false one 0 / 1, a miss 0 / 1."""
    gold, predicted = _gold_predicted(table)
    ok = table.ok
    tp, fp, fn = ok & gold & predicted, ok & ~gold & predicted, ok & gold & ~predicted
    return UnitOutcomes(SAMPLE, tuple(table.ids), 2.0 * tp, 2.0 * tp + fp + fn)


@METRICS.register("f1")
@declare_units(_f1_units)
def f1(table: ScoreTable) -> Estimate:
    """F1 of the positive class on well-formed outputs; percentile bootstrap interval."""
    ok = table.ok
    gold, predicted = (column[ok] for column in _gold_predicted(table))
    return bootstrap_interval(np.stack([gold, predicted], axis=-1).reshape(-1, 2), _f1_of_stack)


METRICS.add("p_correct_total", accuracy)
METRICS.add("recall", sensitivity)


def undefined_as_zero(metric: Metric, doc: str) -> Metric:
    """A variant of ``metric`` that reports 0.0 where the metric is undefined (a zero denominator).

    This is scikit-learn's ``zero_division=0``, which some studies report; onkobench's own metrics
    say n/a instead. Only the point value changes: the interval stays n/a (there is nothing to put an
    interval around when no sample enters the denominator), and ``n`` stays as counted.
    """

    def variant(table: ScoreTable) -> Estimate:
        estimate = metric(table)
        if math.isnan(estimate.value):
            return Estimate(0.0, math.nan, math.nan, estimate.n, estimate.method)
        return estimate

    variant.__doc__ = doc
    if getattr(metric, "lower_is_better", False):
        counts_failures(variant)
    rule = getattr(metric, "unit_outcomes", None)
    if rule is not None:  # the same units, with the same 0.0 for an empty denominator
        declare_units(lambda table: replace(rule(table), if_empty=0.0))(variant)
    return variant


@METRICS.register("p_correct")
@sample_share()
def p_correct(table: ScoreTable) -> Share:
    """Share correct among samples with a usable answer (NA left out; "accuracy excluding NA")."""
    return table.flag("correct"), ~table.na


@METRICS.register("p_na")
@counts_failures
@sample_share()
def p_na(table: ScoreTable) -> Share:
    """Share of samples with no usable answer (the scorer's NA flag where it sets one, else not parsed)."""
    return table.na, None


def _valueshare_interval(key: str, doc: str) -> Metric:
    def rule(table: ScoreTable) -> Share:
        return table.flag(key), None

    rule.__doc__ = doc
    return sample_share()(rule)


def _outcomeshare_interval(outcome: str, doc: str) -> Metric:
    def rule(table: ScoreTable) -> Share:
        return table.equals("outcome", outcome), None

    rule.__doc__ = doc
    return counts_failures(sample_share()(rule))


# hierarchical credit (catalogue-aware scorers); each a share of all samples, malformed = no credit
for _name, _key, _doc in (
    ("p_same_4char", "same_4char", "Share whose code matches the gold code in its first four characters (C34.1x ~ C34.1)."),
    ("p_same_block", "same_block", "Share whose code lies in the gold code's ICD-10-GM block (e.g. C30-C39)."),
    ("p_same_chapter", "same_chapter", "Share whose code lies in the gold code's ICD-10-GM chapter."),
    ("p_same_histology", "same_histology", "ICD-O-3 morphology: share with the right histology (first four digits)."),
    ("p_same_behaviour", "same_behaviour", "ICD-O-3 morphology: share with the right behaviour digit."),
):
    METRICS.add(_name, _valueshare_interval(_key, _doc))

# the outcome taxonomy: one first-class column per class, each a share of failures
for _outcome, _doc in (
    ("empty", "Share of empty outputs."),
    ("no_code", "Share of outputs with no code at all."),
    ("several_codes", "Share of outputs naming several different codes."),
    ("hallucinated", "Share of well-formed codes that do not exist in the catalogue year."),
    ("secondary_neoplasm", "Share answering a secondary-neoplasm code (C77-C79) where a primary tumour was asked."),
    ("valid_wrong", "Share of valid codes outside the gold code's chapter (or otherwise unrelated)."),
):
    METRICS.add(f"p_{_outcome}", _outcomeshare_interval(_outcome, _doc))


def compute_metrics(names: Sequence[str], scored: ScoreTable | Sequence[ScoredSample]) -> dict[str, Estimate]:
    table = scored if isinstance(scored, ScoreTable) else ScoreTable.from_samples(scored)
    return {name: METRICS.get(name)(table) for name in names}
