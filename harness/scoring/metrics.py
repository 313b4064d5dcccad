"""Metrics: a table of scored samples -> Estimate with a 95% interval. Registered by name; the docstring is the help."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.registry import Registry
from harness.scoring.scorers import SECONDARY_NEOPLASMS
from harness.scoring.table import ScoreTable
from harness.stats import Estimate, bootstrap_interval, cluster_bootstrap_interval, wilson_interval


@dataclass(frozen=True, slots=True)
class ScoredSample:
    """One sample after parsing and scoring; a line of ``scores.jsonl``."""

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


def _share(table: ScoreTable, hit: np.ndarray, among: np.ndarray | None = None) -> Estimate:
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
    return _share(table, table.flag("correct"))


@METRICS.register("accuracy_wellformed")
def accuracy_wellformed(table: ScoreTable) -> Estimate:
    """Share correct among samples whose output parsed (malformed ones left out)."""
    return _share(table, table.flag("correct"), among=table.ok)


@METRICS.register("p_malformed")
def p_malformed(table: ScoreTable) -> Estimate:
    """Share of samples whose output is empty, unparsable or cut off inside the reasoning."""
    return _share(table, table.malformed)


@METRICS.register("p_no_think_end")
def p_no_think_end(table: ScoreTable) -> Estimate:
    """Share of reasoning outputs cut off by the token budget before the end of thinking (no answer)."""
    return _share(table, table.status_is("no_think_end"))


@METRICS.register("p_error")
def p_error(table: ScoreTable) -> Estimate:
    """Share of samples with no model output (runner error or missing from an outputs file)."""
    return _share(table, ~table.malformed & ~table.ok)


@METRICS.register("partial_accuracy")
def partial_accuracy(table: ScoreTable) -> Estimate:
    """Share of all samples whose code has the right first three characters (malformed = wrong)."""
    return _share(table, table.flag("partial"))


@METRICS.register("partial_accuracy_wellformed")
def partial_accuracy_wellformed(table: ScoreTable) -> Estimate:
    """Share with the right first three characters among well-formed outputs."""
    return _share(table, table.flag("partial"), among=table.ok)


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


@METRICS.register("p_correct")
def p_correct(table: ScoreTable) -> Estimate:
    """Share correct among samples with a usable answer (NA left out; UroLlmEval "Accuracy (excl. NA)")."""
    return _share(table, table.flag("correct"), among=~table.na)


@METRICS.register("p_na")
def p_na(table: ScoreTable) -> Estimate:
    """Share of samples with no usable answer (UroLlmEval NA; in step 2 C77-C79 answers count as NA)."""
    return _share(table, table.na)


METRICS.add("p_potentially_correct_diagnoses", p_correct)


@METRICS.register("p_C77_79")
def p_c77_79(table: ScoreTable) -> Estimate:
    """Share of step-2 answers coding a metastasis (C77, C78, C79)."""
    return _share(table, table.flag("c77_79"))


def _snippet_sets(table: ScoreTable) -> list[tuple[set[str], set[str]]]:
    """Per snippet: (gold codes, all parsed codes of its queries, C77-C79 included)."""
    groups: dict[str, tuple[set[str], set[str]]] = {}
    for cluster, gold_codes, code in zip(table.cluster, table.values("gold"), table.values("code")):
        gold, combined = groups.setdefault(cluster, (set(gold_codes or []), set()))
        if code:
            combined.add(code)
    return list(groups.values())


@METRICS.register("p_all_diagnoses_found_in_snippets_with_diagnoses")
def p_all_found(table: ScoreTable) -> Estimate:
    """Step 2, per snippet with gold codes: every gold code is among the snippet's answers."""
    sets = [(gold, combined) for gold, combined in _snippet_sets(table) if gold]
    return wilson_interval(sum(gold <= combined for gold, combined in sets), len(sets))


@METRICS.register("p_no_other_diagnoses_found_for_snippet")
def p_no_other(table: ScoreTable) -> Estimate:
    """Step 2, per snippet with queries: no answer outside the gold codes and C77-C79."""
    sets = _snippet_sets(table)
    return wilson_interval(sum(combined <= gold | SECONDARY_NEOPLASMS for gold, combined in sets), len(sets))


@METRICS.register("p_snippets_correct")
def p_snippets_correct(table: ScoreTable) -> Estimate:
    """Step 2 primary metric, per snippet with queries: all gold codes found and no other code."""
    sets = _snippet_sets(table)
    return wilson_interval(sum(gold <= combined and combined <= gold | SECONDARY_NEOPLASMS for gold, combined in sets), len(sets))


def _value_share(key: str, doc: str) -> Metric:
    def metric(table: ScoreTable) -> Estimate:
        return _share(table, table.flag(key))

    metric.__doc__ = doc
    return metric


def _outcome_share(outcome: str, doc: str) -> Metric:
    def metric(table: ScoreTable) -> Estimate:
        return _share(table, table.equals("outcome", outcome))

    metric.__doc__ = doc
    return metric


# hierarchical credit (catalogue-aware scorers); each a share of all samples, malformed = no credit
for _name, _key, _doc in (
    ("p_same_4char", "same_4char", "Share whose code matches the gold code in its first four characters (C34.1x ~ C34.1)."),
    ("p_same_block", "same_block", "Share whose code lies in the gold code's ICD-10-GM block (e.g. C30-C39)."),
    ("p_same_chapter", "same_chapter", "Share whose code lies in the gold code's ICD-10-GM chapter."),
    ("p_same_histology", "same_histology", "ICD-O-3 morphology: share with the right histology (first four digits)."),
    ("p_same_behaviour", "same_behaviour", "ICD-O-3 morphology: share with the right behaviour digit."),
):
    METRICS.add(_name, _value_share(_key, _doc))

# the outcome taxonomy: one first-class column per class
for _outcome, _doc in (
    ("empty", "Share of empty outputs."),
    ("no_code", "Share of outputs with no code at all."),
    ("several_codes", "Share of outputs naming several different codes."),
    ("hallucinated", "Share of well-formed codes that do not exist in the catalogue year."),
    ("secondary_neoplasm", "Share answering a secondary-neoplasm code (C77-C79) where a primary tumour was asked."),
    ("valid_wrong", "Share of valid codes outside the gold code's chapter (or otherwise unrelated)."),
):
    METRICS.add(f"p_{_outcome}", _outcome_share(_outcome, _doc))


LOWER_IS_BETTER = frozenset({
    "p_malformed", "p_no_think_end", "p_error", "p_na", "p_C77_79",
    *(f"p_{outcome}" for outcome in ("empty", "no_code", "several_codes", "hallucinated", "secondary_neoplasm", "valid_wrong")),
})
"""Metrics that count failures (shares of bad outcomes); every other metric is better when higher."""


def compute_metrics(names: Sequence[str], scored: ScoreTable | Sequence[ScoredSample]) -> dict[str, Estimate]:
    table = scored if isinstance(scored, ScoreTable) else ScoreTable.from_samples(scored)
    return {name: METRICS.get(name)(table) for name in names}
