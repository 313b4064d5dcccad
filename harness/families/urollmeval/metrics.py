"""UroLlmEval metrics: step 1's precision, recall and F1 as the study reports them (0.0 for a zero
denominator); step 2 per query (C77-C79 share) and per snippet (all found, no other, both)."""

from __future__ import annotations

from harness.catalogues.codes import SECONDARY_NEOPLASMS
from harness.scoring.metrics import METRICS, counts_failures, f1, p_correct, precision, sensitivity, share_interval, undefined_as_zero
from harness.scoring.table import ScoreTable
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
def p_c77_79(table: ScoreTable) -> Estimate:
    """Share of step-2 answers coding a metastasis (C77, C78, C79)."""
    return share_interval(table, table.flag("c77_79"))


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
