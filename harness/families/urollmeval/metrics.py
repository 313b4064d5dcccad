"""UroLlmEval metrics: step 1's precision, recall and F1 as the study reports them (0.0 for a zero
denominator); step 2 per query (C77-C79 share) and per snippet (all found, no other, both), each declaring its
units (queries, resp. snippets) for paired tests and published per-unit outcomes."""

from __future__ import annotations

from collections.abc import Callable

from harness.catalogues.codes import SECONDARY_NEOPLASMS
from harness.scoring.metrics import (
    METRICS, Metric, Share, counts_failures, f1, p_correct, precision, sample_share, sensitivity, undefined_as_zero,
)
from harness.scoring.table import ScoreTable
from harness.scoring.units import UnitOutcomes, declare_units, group_outcomes
from harness.stats import Estimate, wilson_interval

METRICS.add("p_potentially_correct_diagnoses", p_correct)

# Step 1. The study computes precision, recall and F1 with scikit-learn's zero_division=0
# (results_helper.py, calculate_metrics_for_bool_answer), so a run that predicts no positive reports
# precision 0.0 where onkobench's generic `precision` says n/a; the interval stays n/a either way.
# Specificity there is NaN for TN + FP = 0, as the generic `specificity` is, so it needs no variant.
# The cleaner rule (n/a) is the generic `precision`, `recall`, `f1`.
METRICS.add("urollmeval_precision", undefined_as_zero(
    precision, "UroLlmEval step 1: TP / (TP + FP) on well-formed outputs; 0.0 when nothing was predicted positive (the study's rule)."))
METRICS.add("urollmeval_recall", undefined_as_zero(
    sensitivity, "UroLlmEval step 1: TP / (TP + FN) on well-formed outputs; 0.0 when no well-formed sample is positive (the study's rule)."))
METRICS.add("urollmeval_f1", undefined_as_zero(
    f1, "UroLlmEval step 1: F1 on well-formed outputs; 0.0 when there is no TP, FP or FN (the study's rule); bootstrap interval."))


@METRICS.register("p_C77_79")
@counts_failures
@sample_share()
def p_c77_79(table: ScoreTable) -> Share:
    """Share of step-2 answers coding a metastasis (C77, C78, C79)."""
    return table.flag("c77_79"), None


SNIPPET = "snippet"
"""The unit of step 2's per-snippet metrics: the group of a snippet's queries (paired tests compare snippet by snippet)."""


def _snippet_sets(table: ScoreTable) -> dict[str, tuple[set[str], set[str]]]:
    """Per snippet, in order of first appearance: (gold codes, all parsed codes of its queries, C77-C79 included)."""
    groups: dict[str, tuple[set[str], set[str]]] = {}
    for cluster, gold_codes, code in zip(table.cluster, table.values("gold"), table.values("code")):
        gold, combined = groups.setdefault(cluster, (set(gold_codes or []), set()))
        if code:
            combined.add(code)
    return groups


SnippetRule = Callable[[set[str], set[str]], tuple[bool, bool]]
"""(gold codes, combined codes) -> (the snippet is counted, it is a success)."""


def _per_snippet(rule: SnippetRule) -> Metric:
    """A share of snippets under ``rule``: Wilson interval, and the snippets as its units."""

    def outcomes(table: ScoreTable) -> UnitOutcomes:
        return group_outcomes(SNIPPET, [(snippet, *rule(gold, combined))
                                        for snippet, (gold, combined) in _snippet_sets(table).items()])

    @declare_units(outcomes)
    def metric(table: ScoreTable) -> Estimate:
        units = outcomes(table)
        return wilson_interval(int(units.numerator.sum()), int(units.denominator.sum()))

    metric.__doc__ = rule.__doc__
    return metric


def _all_found(gold: set[str], combined: set[str]) -> tuple[bool, bool]:
    """Step 2, per snippet with gold codes: every gold code is among the snippet's answers."""
    return bool(gold), gold <= combined


def _no_other(gold: set[str], combined: set[str]) -> tuple[bool, bool]:
    """Step 2, per snippet with queries: no answer outside the gold codes and C77-C79."""
    return True, combined <= gold | SECONDARY_NEOPLASMS


def _snippet_correct(gold: set[str], combined: set[str]) -> tuple[bool, bool]:
    """Step 2 primary metric, per snippet with queries: all gold codes found and no other code."""
    return True, gold <= combined and combined <= gold | SECONDARY_NEOPLASMS


METRICS.add("p_all_diagnoses_found_in_snippets_with_diagnoses", _per_snippet(_all_found))
METRICS.add("p_no_other_diagnoses_found_for_snippet", _per_snippet(_no_other))
METRICS.add("p_snippets_correct", _per_snippet(_snippet_correct))
