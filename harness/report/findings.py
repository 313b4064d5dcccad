"""The front page's "What this shows": short factual sentences per benchmark group, written from the group's measured
numbers (its overview and task tables), never from expectations; no HTML here.

Every sentence states numbers the group's tables hold, or that follow from them by the site's own statistics (the
intervals of the means, the paired tests on the per-unit outcomes), formatted as the tables format them (percent with
one decimal). A sentence is written only where its data exist, and it names only models of the group. Which models
are compared follows from their configs alone:

- the leader: the rank-1 row(s) of the overview (ties named as ties) and the next row, with whether their intervals of
  the mean overlap;
- a fine-tune against its base: a model with an adapter against the group's configs of the same ``model_id`` without
  one, and a model whose ``metadata.fine_tuned_from`` is another config's ``model_id`` against that config; per task,
  the paired difference of the two cells on the primary metric (``stats.paired_unit_comparisons``: exact McNemar on
  binary outcomes, else the paired bootstrap of the metric), and ``p_malformed`` of both where the task has it;
- base against instruct models: the best mean of each kind, and a base and an instruct model of the same
  ``metadata.family`` and ``params`` compared task by task as a fine-tune is;
- baselines and oracles: their scores per set kind (``dataset.set_kind`` of the tasks) or over the tasks, and how the
  ranked models' intervals of the mean lie against the best baseline's;
- few-shot against zero-shot prompting per model: per task, its best few-shot variant minus its best zero-shot one
  (the number of examples is the number a variant's name starts with, as the task files name them: ``0``,
  ``3-shot``, ``4-uro``), averaged over the tasks where both ran.

p-values are per task and not adjusted for the several tasks of a group (the task pages give Holm-adjusted ones).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from harness.report.overview import Overview, OverviewRow
from harness.report.pages import Row
from harness.stats import PairedComparison, paired_unit_comparisons
from harness.store import MetricEstimate

ALPHA = 0.05
"""The level the sentences test at ("at p < 0.05")."""
METHOD_NAMES = {"mcnemar": "exact McNemar", "bootstrap": "paired bootstrap"}
NOT_COMPARED = frozenset({"baseline", "oracle"})
"""Kinds never paired as a fine-tune or a base: they have no weights to tune."""


# --- numbers as the tables write them ---

def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def points(value: float) -> str:
    """A difference in percentage points with its sign (never "-0.0")."""
    return f"{round(100 * value, 1) + 0.0:+.1f} points"


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _interval(estimate: MetricEstimate) -> str:
    if estimate.lo is None or estimate.hi is None:
        return "no interval"
    return f"95% CI {100 * estimate.lo:.1f}–{100 * estimate.hi:.1f}"


def _estimate(estimate: MetricEstimate) -> str:
    return f"{percent(estimate.value)} [{_interval(estimate)}]"


def _names(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + f" and {labels[-1]}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass(frozen=True)
class Sentence:
    text: str
    models: tuple[str, ...]
    """Config names of the models the sentence names (all of them rows of the group)."""


# --- paired comparisons of two cells ---

def compare_rows(model: Row, reference: Row, metric: str) -> PairedComparison | None:
    """``model - reference`` on ``metric`` unit by unit; None where either lacks that metric's per-unit outcomes or the
    two do not count the same units (no paired test is possible)."""
    a, b = model.units, reference.units
    if a is None or b is None or a.metric != metric or b.metric != metric or not a.outcomes:
        return None
    if set(a.outcomes) != set(b.outcomes):
        return None
    units = sorted(a.outcomes)
    numerator = np.array([[a.outcomes[u][0], b.outcomes[u][0]] for u in units], dtype=float)
    denominator = np.array([[a.outcomes[u][1], b.outcomes[u][1]] for u in units], dtype=float)
    if_empty = math.nan if a.if_empty is None else a.if_empty
    (comparison,) = paired_unit_comparisons(numerator, denominator, [(0, 1)], if_empty)
    return comparison


@dataclass(frozen=True)
class TaskComparison:
    task: str
    """The column's title."""
    comparison: PairedComparison | None
    """Model minus reference on the task's primary metric; None: not the same units, no paired test."""
    malformed: tuple[float, float] | None = None
    """``p_malformed`` of (reference, model) where the task measures it for both."""

    @property
    def outcome(self) -> str:
        """``higher`` / ``lower`` (significant at ALPHA), ``no difference`` (not significant), ``untested``."""
        c = self.comparison
        if c is None or math.isnan(c.difference):
            return "untested"
        if c.p_value < ALPHA and c.difference != 0:
            return "higher" if c.difference > 0 else "lower"
        return "no difference"

    def detail(self) -> str:
        c = self.comparison
        if c is None or math.isnan(c.difference):
            return f"{self.task}: no paired test (no per-unit outcomes of the same units)"
        bounds = "no interval" if math.isnan(c.lo) or math.isnan(c.hi) else f"95% CI {100 * c.lo:+.1f} to {100 * c.hi:+.1f}"
        method = METHOD_NAMES.get(c.method, c.method)
        return f"{self.task} {points(c.difference)} [{bounds}], {p_text(c.p_value)} ({method})"


@dataclass(frozen=True)
class PairFinding:
    """A model against the model it was made from (a fine-tune and its base; an instruct and a base model)."""

    model: OverviewRow
    reference: OverviewRow
    link: str
    """Why the two are paired, in words."""
    tasks: tuple[TaskComparison, ...]

    def count(self, outcome: str) -> int:
        return sum(task.outcome == outcome for task in self.tasks)

    @property
    def n_tested(self) -> int:
        return len(self.tasks) - self.count("untested")

    def sentences(self) -> list[Sentence]:
        m, r = self.model.model.display_name, self.reference.model.display_name
        names = (self.model.model.name, self.reference.model.name)
        if not self.tasks:
            return []
        counts = [f"is higher than {r} on {self.count('higher')} of {_plural(self.n_tested, 'task')} at p < {ALPHA}",
                  f"lower on {self.count('lower')}",
                  f"no significant difference at p < {ALPHA} on {self.count('no difference')}"]
        if self.count("untested"):
            counts.append(f"not tested on {self.count('untested')}")
        out = [Sentence(f"{m} ({self.model.kind}; {self.link}) {', '.join(counts)}.", names),
               Sentence(f"{m} minus {r} per task (primary metric, best variant of each): "
                        f"{'; '.join(task.detail() for task in self.tasks)}.", names)]
        malformed = [t for t in self.tasks if t.malformed is not None]
        if malformed:
            shown = "; ".join(f"{t.task} {percent(t.malformed[0])} → {percent(t.malformed[1])}"  # type: ignore[index]
                              for t in malformed)
            out.append(Sentence(f"Malformed answers, {r} → {m}: {shown}.", names))
        return out


def _pair(model: OverviewRow, reference: OverviewRow, link: str, overview: Overview) -> PairFinding:
    tasks = []
    for column in overview.columns:
        a, b = model.cells.get(column.key), reference.cells.get(column.key)
        if a is None or b is None:
            continue  # a task one of them has no result on
        malformed = None
        if column.table.has_malformed:
            before, after = b.row.metric("p_malformed"), a.row.metric("p_malformed")
            if before is not None and after is not None and before.value is not None and after.value is not None:
                malformed = (before.value, after.value)
        tasks.append(TaskComparison(column.title, compare_rows(a.row, b.row, column.table.primary_metric), malformed))
    return PairFinding(model, reference, link, tuple(tasks))


def _bases_of(model: OverviewRow, rows: list[OverviewRow]) -> list[tuple[OverviewRow, str]]:
    """The rows ``model`` was fine-tuned from: the same weights without its adapter, or the config whose model_id its
    ``fine_tuned_from`` names. Of several such configs, those with the same reasoning setting where there are any."""
    summary = model.model
    found: dict[str, tuple[OverviewRow, str]] = {}
    tuned_from = summary.metadata.get("fine_tuned_from")
    for other in rows:
        o = other.model
        if other is model or other.kind in NOT_COMPARED or o.adapter is not None or not o.model_id:
            continue
        if summary.adapter is not None and o.model_id == summary.model_id:
            found[o.name] = (other, f"an adapter on {o.display_name}")
        elif tuned_from and o.model_id == tuned_from and o.model_id != summary.model_id:
            found[o.name] = (other, f"fine-tuned from {o.display_name}")
    same = [pair for pair in found.values() if pair[0].model.reasoning == summary.reasoning]
    return same or list(found.values())


def fine_tune_pairs(overview: Overview) -> list[PairFinding]:
    """Every fine-tune of the group whose base is in the group too, against that base."""
    rows = [row for row in overview.rows if row.kind not in NOT_COMPARED]
    return [_pair(row, base, link, overview) for row in rows for base, link in _bases_of(row, rows)]


def instruct_pairs(overview: Overview, taken: set[tuple[str, str]]) -> list[PairFinding]:
    """An instruct and a base model of the same ``metadata.family`` and ``params`` (not paired as a fine-tune yet)."""
    def key(row: OverviewRow) -> tuple[str, str]:
        return str(row.model.metadata.get("family") or ""), str(row.model.metadata.get("params") or "")

    pairs = []
    for instruct in (r for r in overview.rows if r.kind == "instruct" and all(key(r))):
        for base in (r for r in overview.rows if r.kind == "base" and key(r) == key(instruct)):
            if (instruct.model.name, base.model.name) not in taken:
                family, params = key(base)
                link = f"the same family and size as {base.model.display_name}: {family}, {params}"
                pairs.append(_pair(instruct, base, link, overview))
    return pairs


# --- the leader, kinds, baselines ---

def _position(a: MetricEstimate, b: MetricEstimate) -> str:
    """Where ``a``'s 95% interval lies against ``b``'s: ``above``, ``below``, ``overlap``, or ``unknown`` (one lacks
    an interval)."""
    if a.lo is None or a.hi is None or b.lo is None or b.hi is None:
        return "unknown"
    return "above" if a.lo > b.hi else "below" if a.hi < b.lo else "overlap"


def _scope(overview: Overview) -> str:
    n = len(overview.columns)
    return f"task {overview.columns[0].title}" if n == 1 else f"the mean over the {n} tasks"


def _scored(rows: list[OverviewRow]) -> list[tuple[OverviewRow, MetricEstimate]]:
    return [(row, row.aggregate) for row in rows if row.aggregate is not None and row.aggregate.value is not None]


def leader_sentences(overview: Overview) -> list[Sentence]:
    """The rank-1 row(s) on the mean, a tie named as one, and how the next row's interval lies against theirs."""
    ranked = [(row, mean) for row, mean in _scored(overview.rows) if row.rank is not None]
    if not ranked:
        return []
    label = {row.model.name: f"{row.model.display_name} ({_estimate(mean)})" for row, mean in ranked}
    top = [(row, mean) for row, mean in ranked if row.rank == 1]
    names = tuple(row.model.name for row, _ in top)
    if len(ranked) == 1:
        return [Sentence(f"On {_scope(overview)}, {label[names[0]]} is the only ranked model.", names)]
    if len(top) == 1:
        first = f"On {_scope(overview)}, {label[names[0]]} ranks first."
    else:
        first = (f"On {_scope(overview)}, {_names([label[n] for n in names])} share rank 1, a tie: no model's 95% "
                 "interval lies entirely above theirs.")
    out = [Sentence(first, names)]
    rest = [(row, mean) for row, mean in ranked if row.rank != 1]
    if rest:
        rank = rest[0][0].rank
        following = [(row, mean) for row, mean in rest if row.rank == rank]  # a tie at the next rank is named too
        clauses = "; ".join(f"{label[row.model.name]} {_against(mean, top)}" for row, mean in following)
        text = f"The next, at rank {rank}: {clauses}." if len(following) == 1 else f"Next, sharing rank {rank}: {clauses}."
        out.append(Sentence(text, (*(row.model.name for row, _ in following), *names)))
    return out


def _against(mean: MetricEstimate, top: list[tuple[OverviewRow, MetricEstimate]]) -> str:
    """How an interval of the mean lies against the leaders' intervals, in words."""
    parts = []
    for position, words in (("overlap", "overlaps the interval{s} of"),
                            ("below", "lies entirely below the interval{s} of"),
                            ("unknown", "has no interval to compare with that{s} of")):
        named = [row.model.display_name for row, other in top if _position(mean, other) == position]
        if named:
            parts.append(f"{words.format(s='s' if len(named) > 1 else '')} {_names(named)}")
    return " and ".join(parts)


def _best(rows: list[OverviewRow], kind: str) -> tuple[OverviewRow, MetricEstimate] | None:
    scored = [(row, mean) for row, mean in _scored(rows) if row.kind == kind]
    return max(scored, key=lambda pair: pair[1].value) if scored else None  # type: ignore[arg-type, return-value]


def kind_sentences(overview: Overview) -> list[Sentence]:
    """The best base model's mean against the best instruct model's, where the group has both."""
    base, instruct = _best(overview.rows, "base"), _best(overview.rows, "instruct")
    if base is None or instruct is None:
        return []
    verdict = {"overlap": "the two intervals overlap", "unknown": "no intervals to compare"}.get(
        _position(base[1], instruct[1]), "the two intervals do not overlap")
    text = (f"On {_scope(overview)}, the best base model, {base[0].model.display_name}, has {_estimate(base[1])}; "
            f"the best instruct model, {instruct[0].model.display_name}, has {_estimate(instruct[1])}: {verdict}.")
    return [Sentence(text, (base[0].model.name, instruct[0].model.name))]


def _scores_by_set_kind(row: OverviewRow, overview: Overview) -> str:
    """The row's score per set kind of the tasks (a mean where it has several tasks of a kind), where every task has
    a set kind and there are several; else, for an oracle, its mean over tasks or its score per task; else ""."""
    kinds = [column.set_kind for column in overview.columns]
    values = {column.key: cell.row.primary.value for column in overview.columns
              if (cell := row.cells.get(column.key)) is not None and cell.row.primary.value is not None}
    if all(kinds) and len(set(kinds)) > 1:
        parts = []
        for kind in dict.fromkeys(kinds):
            mine = [values[c.key] for c in overview.columns if c.set_kind == kind and c.key in values]
            if len(mine) == 1:
                parts.append(f"{percent(mine[0])} on the {kind} task")
            elif mine:
                parts.append(f"a mean of {percent(sum(mine) / len(mine))} on the {len(mine)} {kind} tasks")
        return " and ".join(parts)
    if row.kind != "oracle":
        return ""  # a baseline's mean is in the overview and in the comparison with the ranked models below
    if row.aggregate is not None and len(overview.columns) > 1:
        return f"{_estimate(row.aggregate)} on the mean over the {len(overview.columns)} tasks"
    return "; ".join(f"{percent(values[c.key])} on {c.title}" for c in overview.columns if c.key in values)


def baseline_sentences(overview: Overview) -> list[Sentence]:
    """Each oracle's and baseline's scores (per set kind where the tasks have several), and how the ranked models'
    intervals of the mean lie against the best baseline's."""
    out = []
    for row in (row for row in overview.rows if row.kind in NOT_COMPARED):
        if scores := _scores_by_set_kind(row, overview):
            what = "an oracle (it knows the answer key: a ceiling, not ranked)" if row.kind == "oracle" else "a baseline"
            out.append(Sentence(f"{row.model.display_name}, {what}, scores {scores}.", (row.model.name,)))
    best = _best(overview.rows, "baseline")
    others = [(row, mean) for row, mean in _scored(overview.rows)
              if row.rank is not None and row.kind not in NOT_COMPARED]
    if best is not None and others:
        count = {p: sum(_position(mean, best[1]) == p for _, mean in others)
                 for p in ("above", "overlap", "below", "unknown")}
        text = (f"Of the ranked models other than baselines ({len(others)}), the interval of the mean lies entirely above "
                f"that of the best baseline, {best[0].model.display_name} ({_estimate(best[1])}), for {count['above']}, "
                f"overlaps it for {count['overlap']} and lies entirely below it for {count['below']}"
                + (f"; {count['unknown']} have no interval" if count["unknown"] else "") + ".")
        out.append(Sentence(text, (best[0].model.name, *(row.model.name for row, _ in others))))
    return out


# --- few-shot against zero-shot ---

_SHOTS = re.compile(r"^(\d+)(?![0-9])")


def shots_of(variant: str) -> int | None:
    """The number of few-shot examples a variant's name starts with (``0``, ``3-shot``, ``4-uro@1``); None: none."""
    match = _SHOTS.match(variant)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class FewShotEffect:
    model: str
    """Config name."""
    label: str
    """Display name (with the prompt pack where the runs used one)."""
    differences: dict[str, float] = field(default_factory=dict)
    """Task title -> best few-shot variant minus best zero-shot variant on the primary metric."""

    @property
    def mean(self) -> float:
        return sum(self.differences.values()) / len(self.differences)


def few_shot_effects(overview: Overview) -> list[FewShotEffect]:
    """Per model (and prompt pack) with zero-shot and few-shot runs on a task of the group."""
    effects: dict[tuple[str, str], FewShotEffect] = {}
    for column in overview.columns:
        best: dict[tuple[str, str], dict[bool, float]] = {}
        labels: dict[tuple[str, str], str] = {}
        for row in column.table.rows:
            shots, value = shots_of(row.summary.variant), row.primary.value
            if shots is None or value is None:
                continue
            pack = row.summary.prompt_pack
            key = (row.model_name, pack.hash if pack else "")
            labels[key] = row.summary.model.display_name + (f" (prompts {pack.name}@{pack.hash[:8]})" if pack else "")
            few = best.setdefault(key, {})
            few[shots > 0] = max(few.get(shots > 0, -math.inf), value)
        for key, values in best.items():
            if True in values and False in values:
                effect = effects.setdefault(key, FewShotEffect(key[0], labels[key]))
                effect.differences[column.title] = values[True] - values[False]
    return sorted(effects.values(), key=lambda e: (e.label.casefold(), e.model))


def few_shot_sentences(effects: list[FewShotEffect]) -> list[Sentence]:
    if not effects:
        return []
    parts = []
    for e in effects:
        diffs = list(e.differences.values())
        higher, lower = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
        parts.append(f"{e.label} {points(e.mean)} on average over {_plural(len(diffs), 'task')} "
                     f"(higher on {higher}, lower on {lower}, equal on {len(diffs) - higher - lower})")
    text = ("Few-shot against zero-shot prompts (per task the best variant of each, primary metric): "
            + "; ".join(parts) + ".")
    return [Sentence(text, tuple(dict.fromkeys(e.model for e in effects)))]


# --- the group ---

@dataclass(frozen=True)
class Findings:
    sentences: list[Sentence]
    pairs: list[PairFinding]
    """Fine-tunes against their bases, then instruct against base models of the same family and size."""
    few_shot: list[FewShotEffect]

    @property
    def models(self) -> set[str]:
        """Config names of every model the sentences name."""
        return {name for sentence in self.sentences for name in sentence.models}


def group_findings(overview: Overview) -> Findings:
    """The sentences of one overview group, in reading order: leader, fine-tunes, base and instruct, baselines,
    few-shot."""
    tuned = fine_tune_pairs(overview)
    instruct = instruct_pairs(overview, {(p.model.model.name, p.reference.model.name) for p in tuned})
    effects = few_shot_effects(overview)
    sentences = [*leader_sentences(overview)]
    for pair in tuned:
        sentences += pair.sentences()
    sentences += kind_sentences(overview)
    for pair in instruct:
        sentences += pair.sentences()
    sentences += baseline_sentences(overview) + few_shot_sentences(effects)
    return Findings(sentences, tuned + instruct, effects)

