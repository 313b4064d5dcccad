"""Metrics: scored samples -> Estimate with a 95% interval. Registered by name; the docstring is the help."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.registry import Registry
from harness.scoring.parsers import MALFORMED_STATUSES, OK
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

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def na(self) -> bool:
        """No usable answer: the scorer's own NA flag where it sets one (C77-C79), else not parsed."""
        flag = self.values.get("na")
        return bool(flag) if flag is not None else not self.ok


Metric = Callable[[Sequence[ScoredSample]], Estimate]
METRICS: Registry[Metric] = Registry("metric")


def _share(samples: Sequence[ScoredSample], hit: Callable[[ScoredSample], bool]) -> Estimate:
    """A share with its 95% interval: Wilson, or a cluster bootstrap when one text gave several samples."""
    groups = [s.group or s.sample_id for s in samples]
    if len(set(groups)) < len(groups):
        values = np.array([1.0 if hit(s) else 0.0 for s in samples])
        return cluster_bootstrap_interval(values, groups)
    return wilson_interval(sum(1 for s in samples if hit(s)), len(samples))


def _wellformed(samples: Sequence[ScoredSample]) -> list[ScoredSample]:
    return [s for s in samples if s.ok]


@METRICS.register("accuracy")
def accuracy(samples: Sequence[ScoredSample]) -> Estimate:
    """Share of all samples answered correctly; malformed, empty and failed outputs count as wrong."""
    return _share(samples, lambda s: bool(s.values.get("correct")))


@METRICS.register("accuracy_wellformed")
def accuracy_wellformed(samples: Sequence[ScoredSample]) -> Estimate:
    """Share correct among samples whose output parsed (malformed ones left out)."""
    return _share(_wellformed(samples), lambda s: bool(s.values.get("correct")))


@METRICS.register("p_malformed")
def p_malformed(samples: Sequence[ScoredSample]) -> Estimate:
    """Share of samples whose output is empty, unparsable or cut off inside the reasoning."""
    return _share(samples, lambda s: s.status in MALFORMED_STATUSES)


@METRICS.register("p_no_think_end")
def p_no_think_end(samples: Sequence[ScoredSample]) -> Estimate:
    """Share of reasoning outputs cut off by the token budget before the end of thinking (no answer)."""
    return _share(samples, lambda s: s.status == "no_think_end")


@METRICS.register("p_error")
def p_error(samples: Sequence[ScoredSample]) -> Estimate:
    """Share of samples with no model output (runner error or missing from an outputs file)."""
    return _share(samples, lambda s: s.status not in MALFORMED_STATUSES and s.status != OK)


@METRICS.register("partial_accuracy")
def partial_accuracy(samples: Sequence[ScoredSample]) -> Estimate:
    """Share of all samples whose code has the right first three characters (malformed = wrong)."""
    return _share(samples, lambda s: bool(s.values.get("partial")))


@METRICS.register("partial_accuracy_wellformed")
def partial_accuracy_wellformed(samples: Sequence[ScoredSample]) -> Estimate:
    """Share with the right first three characters among well-formed outputs."""
    return _share(_wellformed(samples), lambda s: bool(s.values.get("partial")))


def _gold_predicted(samples: Sequence[ScoredSample]) -> list[tuple[bool, bool]]:
    return [(bool(s.values["gold"]), bool(s.values["predicted"])) for s in _wellformed(samples)]


@METRICS.register("sensitivity")
def sensitivity(samples: Sequence[ScoredSample]) -> Estimate:
    """Recall: TP / (TP + FN) on well-formed outputs."""
    pairs = [p for g, p in _gold_predicted(samples) if g]
    return wilson_interval(sum(pairs), len(pairs))


@METRICS.register("specificity")
def specificity(samples: Sequence[ScoredSample]) -> Estimate:
    """TN / (TN + FP) on well-formed outputs."""
    pairs = [not p for g, p in _gold_predicted(samples) if not g]
    return wilson_interval(sum(pairs), len(pairs))


@METRICS.register("precision")
def precision(samples: Sequence[ScoredSample]) -> Estimate:
    """TP / (TP + FP) on well-formed outputs."""
    pairs = [g for g, p in _gold_predicted(samples) if p]
    return wilson_interval(sum(pairs), len(pairs))


def _f1_of_stack(stack: np.ndarray) -> np.ndarray:
    gold, predicted = stack[..., 0], stack[..., 1]
    tp = (gold & predicted).sum(axis=-1)
    fp = (~gold & predicted).sum(axis=-1)
    fn = (gold & ~predicted).sum(axis=-1)
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, np.nan)


@METRICS.register("f1")
def f1(samples: Sequence[ScoredSample]) -> Estimate:
    """F1 of the positive class on well-formed outputs; percentile bootstrap interval."""
    pairs = np.array(_gold_predicted(samples), dtype=bool).reshape(-1, 2)
    return bootstrap_interval(pairs, _f1_of_stack)


METRICS.add("p_correct_total", accuracy)
METRICS.add("recall", sensitivity)


@METRICS.register("p_correct")
def p_correct(samples: Sequence[ScoredSample]) -> Estimate:
    """Share correct among samples with a usable answer (NA left out; UroLlmEval "Accuracy (excl. NA)")."""
    return _share([s for s in samples if not s.na], lambda s: bool(s.values.get("correct")))


@METRICS.register("p_na")
def p_na(samples: Sequence[ScoredSample]) -> Estimate:
    """Share of samples with no usable answer (UroLlmEval NA; in step 2 C77-C79 answers count as NA)."""
    return _share(samples, lambda s: s.na)


METRICS.add("p_potentially_correct_diagnoses", p_correct)


@METRICS.register("p_C77_79")
def p_c77_79(samples: Sequence[ScoredSample]) -> Estimate:
    """Share of step-2 answers coding a metastasis (C77, C78, C79)."""
    return _share(samples, lambda s: bool(s.values.get("c77_79")))


def _snippet_sets(samples: Sequence[ScoredSample]) -> list[tuple[set[str], set[str]]]:
    """Per snippet: (gold codes, all parsed codes of its queries, C77-C79 included)."""
    groups: dict[str, tuple[set[str], set[str]]] = {}
    for s in samples:
        gold, combined = groups.setdefault(s.group or s.sample_id, (set(s.values.get("gold") or []), set()))
        if s.values.get("code"):
            combined.add(s.values["code"])
    return list(groups.values())


_SECONDARY = frozenset({"C77", "C78", "C79"})


@METRICS.register("p_all_diagnoses_found_in_snippets_with_diagnoses")
def p_all_found(samples: Sequence[ScoredSample]) -> Estimate:
    """Step 2, per snippet with gold codes: every gold code is among the snippet's answers."""
    sets = [(gold, combined) for gold, combined in _snippet_sets(samples) if gold]
    return wilson_interval(sum(gold <= combined for gold, combined in sets), len(sets))


@METRICS.register("p_no_other_diagnoses_found_for_snippet")
def p_no_other(samples: Sequence[ScoredSample]) -> Estimate:
    """Step 2, per snippet with queries: no answer outside the gold codes and C77-C79."""
    sets = _snippet_sets(samples)
    return wilson_interval(sum(combined <= gold | _SECONDARY for gold, combined in sets), len(sets))


@METRICS.register("p_snippets_correct")
def p_snippets_correct(samples: Sequence[ScoredSample]) -> Estimate:
    """Step 2 primary metric, per snippet with queries: all gold codes found and no other code."""
    sets = _snippet_sets(samples)
    return wilson_interval(sum(gold <= combined and combined <= gold | _SECONDARY for gold, combined in sets), len(sets))


def _value_share(key: str, doc: str) -> Metric:
    def metric(samples: Sequence[ScoredSample]) -> Estimate:
        return _share(samples, lambda s: bool(s.values.get(key)))

    metric.__doc__ = doc
    return metric


def _outcome_share(outcome: str, doc: str) -> Metric:
    def metric(samples: Sequence[ScoredSample]) -> Estimate:
        return _share(samples, lambda s: s.values.get("outcome") == outcome)

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


def compute_metrics(names: Sequence[str], samples: Sequence[ScoredSample]) -> dict[str, Estimate]:
    return {name: METRICS.get(name)(samples) for name in names}
