"""Metrics: a table of scored samples -> Estimate with a 95% interval. Registered by name; the docstring is the help."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.registry import Registry
from harness.scoring.table import ScoreTable
from harness.stats import Estimate, bootstrap_interval, cluster_bootstrap_interval, wilson_interval


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


def share_interval(table: ScoreTable, hit: np.ndarray, among: np.ndarray | None = None) -> Estimate:
    """A share with its 95% interval: Wilson, or a cluster bootstrap when one text gave several samples."""
    values = hit if among is None else hit[among]
    if not table.clusters_unique:
        clusters = table.clusters(among)
        if len(set(clusters)) < len(clusters):
            return cluster_bootstrap_interval(values.astype(float), clusters)
    return wilson_interval(int(values.sum()), int(values.size))


@METRICS.register("accuracy")
def accuracy(table: ScoreTable) -> Estimate:
    """Share of all samples answered correctly; malformed, empty and failed outputs count as wrong."""
    return share_interval(table, table.flag("correct"))


@METRICS.register("accuracy_wellformed")
def accuracy_wellformed(table: ScoreTable) -> Estimate:
    """Share correct among samples whose output parsed (malformed ones left out)."""
    return share_interval(table, table.flag("correct"), among=table.ok)


@METRICS.register("p_malformed")
@counts_failures
def p_malformed(table: ScoreTable) -> Estimate:
    """Share of samples whose output is empty, unparsable or cut off inside the reasoning."""
    return share_interval(table, table.malformed)


@METRICS.register("p_no_think_end")
@counts_failures
def p_no_think_end(table: ScoreTable) -> Estimate:
    """Share of reasoning outputs cut off by the token budget before the end of thinking (no answer)."""
    return share_interval(table, table.status_is("no_think_end"))


@METRICS.register("p_error")
@counts_failures
def p_error(table: ScoreTable) -> Estimate:
    """Share of samples with no model output (runner error or missing from an outputs file)."""
    return share_interval(table, ~table.malformed & ~table.ok)


@METRICS.register("partial_accuracy")
def partial_accuracy(table: ScoreTable) -> Estimate:
    """Share of all samples whose code has the right first three characters (malformed = wrong)."""
    return share_interval(table, table.flag("partial"))


@METRICS.register("partial_accuracy_wellformed")
def partial_accuracy_wellformed(table: ScoreTable) -> Estimate:
    """Share with the right first three characters among well-formed outputs."""
    return share_interval(table, table.flag("partial"), among=table.ok)


def _gold_predicted(table: ScoreTable) -> tuple[np.ndarray, np.ndarray]:
    """Gold and predicted labels of the well-formed samples."""
    ok = table.ok
    return table.flag("gold")[ok], table.flag("predicted")[ok]


def _proportion(hits: np.ndarray) -> Estimate:
    return wilson_interval(int(hits.sum()), int(hits.size))


@METRICS.register("sensitivity")
def sensitivity(table: ScoreTable) -> Estimate:
    """Recall: TP / (TP + FN) on well-formed outputs."""
    gold, predicted = _gold_predicted(table)
    return _proportion(predicted[gold])


@METRICS.register("specificity")
def specificity(table: ScoreTable) -> Estimate:
    """TN / (TN + FP) on well-formed outputs."""
    gold, predicted = _gold_predicted(table)
    return _proportion(~predicted[~gold])


@METRICS.register("precision")
def precision(table: ScoreTable) -> Estimate:
    """TP / (TP + FP) on well-formed outputs."""
    gold, predicted = _gold_predicted(table)
    return _proportion(gold[predicted])


def _f1_of_stack(stack: np.ndarray) -> np.ndarray:
    gold, predicted = stack[..., 0], stack[..., 1]
    tp = (gold & predicted).sum(axis=-1)
    fp = (~gold & predicted).sum(axis=-1)
    fn = (gold & ~predicted).sum(axis=-1)
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, np.nan)


@METRICS.register("f1")
def f1(table: ScoreTable) -> Estimate:
    """F1 of the positive class on well-formed outputs; percentile bootstrap interval."""
    gold, predicted = _gold_predicted(table)
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
    return variant


@METRICS.register("p_correct")
def p_correct(table: ScoreTable) -> Estimate:
    """Share correct among samples with a usable answer (NA left out; "accuracy excluding NA")."""
    return share_interval(table, table.flag("correct"), among=~table.na)


@METRICS.register("p_na")
@counts_failures
def p_na(table: ScoreTable) -> Estimate:
    """Share of samples with no usable answer (the scorer's NA flag where it sets one, else not parsed)."""
    return share_interval(table, table.na)


def _valueshare_interval(key: str, doc: str) -> Metric:
    def metric(table: ScoreTable) -> Estimate:
        return share_interval(table, table.flag(key))

    metric.__doc__ = doc
    return metric


def _outcomeshare_interval(outcome: str, doc: str) -> Metric:
    def metric(table: ScoreTable) -> Estimate:
        return share_interval(table, table.equals("outcome", outcome))

    metric.__doc__ = doc
    return counts_failures(metric)


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
