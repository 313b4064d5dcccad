"""UroLlmEval step 2 metrics: per query (C77-C79 share) and per snippet (all found, no other, both)."""

from __future__ import annotations

from harness.catalogues.codes import SECONDARY_NEOPLASMS
from harness.scoring.metrics import METRICS, counts_failures, p_correct, share_interval
from harness.scoring.table import ScoreTable
from harness.stats import Estimate, wilson_interval

METRICS.add("p_potentially_correct_diagnoses", p_correct)


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
