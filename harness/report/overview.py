"""The front page's overview: one table per benchmark group, one row per model, one column per task (no HTML here).

A group is a task family on real or on synthetic data: synthetic data never shares a table (or a rank) with real
data, and its groups come last. A cell is the model's best prompt variant on that task by the task's primary metric
(the variant is named on the cell). The aggregate is the mean over the group's tasks of those primary metrics, for a
model with every task only, with a stratified bootstrap interval (``harness.stats.stratified_mean_interval``:
items resampled within each task, seeded) computed from the runs' per-unit outcomes, so it is recomputable from
published results. Models are ranked on it with ties (overlapping intervals share a rank); an oracle (it knows the
answer key) is shown as the ceiling it is and never ranked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from harness.report.pages import Row, TaskTable
from harness.stats import ranks_with_ties, stratified_mean_interval
from harness.store import MetricEstimate, ModelSummary

KINDS = ("base", "instruct", "fine-tuned", "reasoning", "baseline", "oracle")
"""The model kinds a leaderboard row can have, in the order the kind filter lists them."""
UNRANKED_KINDS = frozenset({"oracle"})
"""Kinds shown but never ranked: an oracle looks the answer up in the answer key, a ceiling rather than a competitor."""


def model_kind(model: ModelSummary) -> str:
    """The model's kind: ``metadata.kind`` where the config sets it, else derived, first rule that fits:
    weight type ``oracle`` or ``baseline`` -> that; the ``baseline`` runner (no weights) -> baseline; reasoning on ->
    reasoning; weight type ``adapter`` or ``merged``, or ``fine_tuned_from`` set -> fine-tuned; else instruct (a
    chat model with its published weights: a pretrained-only model needs ``kind: base``, its name cannot tell)."""
    metadata = model.metadata
    if metadata.get("kind") in KINDS:
        return str(metadata["kind"])
    weight_type = metadata.get("weight_type")
    if weight_type in ("oracle", "baseline"):
        return str(weight_type)
    if model.runner == "baseline":
        return "baseline"
    if model.reasoning is True:
        return "reasoning"
    if weight_type in ("adapter", "merged") or metadata.get("fine_tuned_from"):
        return "fine-tuned"
    return "instruct"


_PARAMS = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMBT]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def parameter_count(text: str) -> float | None:
    """``metadata.params`` as a number for sorting (``135M`` -> 1.35e8, ``8B`` -> 8e9); None where it is not one
    number with a K/M/B/T suffix (``8x7B`` is shown as written but sorts as unknown)."""
    match = _PARAMS.match(text or "")
    return float(match.group(1)) * _SCALE[match.group(2).upper()] if match else None


@dataclass(frozen=True)
class OverviewColumn:
    """One task of a group: a task table on its own data (not chained, or chained on gold inputs)."""

    table: TaskTable

    @property
    def key(self) -> str:
        return self.table.anchor

    @property
    def title(self) -> str:
        """The task's name without its family prefix (the group names the family)."""
        task, family = self.table.task, self.table.family
        return task[len(family) + 1:] if task.startswith(f"{family}.") else task

    @property
    def set_kind(self) -> str:
        return str(self.table.dataset.get("set_kind") or "")


@dataclass(frozen=True)
class OverviewCell:
    """A model's best variant on a task: the row with the highest primary metric (ties: the first variant by name)."""

    row: Row
    n_variants: int
    """How many variants (prompt variants, packs, draws) of the model the task table has."""


@dataclass
class OverviewRow:
    model: ModelSummary
    kind: str
    cells: dict[str, OverviewCell]
    """Column key -> cell; a task the model has no result on has none."""
    aggregate: MetricEstimate | None = None
    """Mean over the group's tasks with its 95% interval (None bounds: no interval); None where the model misses a
    task or has no value on one."""
    rank: int | None = None
    """Rank on the aggregate with ties; None for an oracle or a row without aggregate."""

    @property
    def ranked(self) -> bool:
        return self.kind not in UNRANKED_KINDS

    @property
    def params(self) -> str:
        return str(self.model.metadata.get("params") or "")

    @property
    def params_count(self) -> float | None:
        return parameter_count(self.params)

    @property
    def licence(self) -> str:
        return str(self.model.metadata.get("licence") or "")


@dataclass
class Overview:
    family: str
    synthetic: bool
    columns: list[OverviewColumn]
    rows: list[OverviewRow]
    chained: list[TaskTable] = field(default_factory=list)
    """Tables of steps chained on another run's answers: each chain is its own comparison, on its task page only."""

    @property
    def anchor(self) -> str:
        return f"overview--{self.family}" + ("--synthetic" if self.synthetic else "")

    @property
    def kinds(self) -> list[str]:
        """The kinds among the rows, for the kind filter."""
        present = {row.kind for row in self.rows}
        return [kind for kind in KINDS if kind in present]


def _value(row: Row) -> float:
    value = row.primary.value
    return -math.inf if value is None else value


def _best_cells(table: TaskTable) -> dict[str, OverviewCell]:
    """Per model config name: its best row on the table and how many rows it has there."""
    by_model: dict[str, list[Row]] = {}
    for row in table.rows:
        by_model.setdefault(row.model_name, []).append(row)
    cells = {}
    for name, rows in by_model.items():
        best = min(rows, key=lambda r: (-_value(r), r.summary.variant, r.run_id))
        cells[name] = OverviewCell(best, len(rows))
    return cells


def _strata(cells: list[OverviewCell],
            columns: list[OverviewColumn]) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[float]] | None:
    """Each task's per-unit outcomes of its primary metric (numerators, denominators) and its value where no unit
    counts, in column order; None where a row has none (an old published result, a metric without units): its
    aggregate then has no interval."""
    strata, empty = [], []
    for cell, column in zip(cells, columns):
        units = cell.row.units
        if units is None or units.metric != column.table.primary_metric or not units.outcomes:
            return None
        outcomes = np.array(list(units.outcomes.values()), dtype=float)
        strata.append((outcomes[:, 0], outcomes[:, 1]))
        empty.append(math.nan if units.if_empty is None else units.if_empty)
    return strata, empty


def _estimate(value: float, lo: float | None, hi: float | None, n: int, method: str) -> MetricEstimate:
    """As a table shows an estimate: an undefined bound is None."""
    def bound(x: float | None) -> float | None:
        return None if x is None or math.isnan(x) else x

    return MetricEstimate(value=value, lo=bound(lo), hi=bound(hi), n=n, method=method)


def aggregate(cells: list[OverviewCell], columns: list[OverviewColumn], seed: int = 0) -> MetricEstimate | None:
    """The mean of the cells' primary values (one cell per column, in column order) with its stratified bootstrap
    interval; None where a cell has no value. One task: that task's own estimate (its interval as the table shows)."""
    values = [cell.row.primary.value for cell in cells]
    if not cells or any(value is None for value in values):
        return None
    if len(cells) == 1:
        return cells[0].row.primary
    point = float(np.mean(values))  # type: ignore[arg-type]
    units = _strata(cells, columns)
    if units is None:
        return _estimate(point, None, None, 0, "no per-unit outcomes")
    interval = stratified_mean_interval(units[0], if_empty=units[1], seed=seed)
    # the point is the mean of the cells as shown (their units give the same values); the interval is the bootstrap's
    return _estimate(point, interval.lo, interval.hi, interval.n, interval.method)


def _rank(rows: list[OverviewRow]) -> None:
    ranked = [row for row in rows if row.ranked and row.aggregate is not None]
    intervals = [(math.nan if row.aggregate.lo is None else row.aggregate.lo,  # type: ignore[union-attr]
                  math.nan if row.aggregate.hi is None else row.aggregate.hi) for row in ranked]  # type: ignore[union-attr]
    for row, rank in zip(ranked, ranks_with_ties(intervals)):
        row.rank = rank


def _order(row: OverviewRow) -> tuple[int, float, str]:
    """Rows with an aggregate first, best first (an oracle among them at its value), then the rest by name."""
    if row.aggregate is None:
        return (1, 0.0, row.model.display_name.casefold())
    return (0, -(row.aggregate.value or 0.0), row.model.display_name.casefold())


def _overview(family: str, synthetic: bool, tables: list[TaskTable]) -> Overview:
    columns = [OverviewColumn(t) for t in tables if not t.upstream or t.upstream.get("tag") == "gold"]
    chained = [t for t in tables if t.upstream and t.upstream.get("tag") != "gold"]
    cells_by_column = {column.key: _best_cells(column.table) for column in columns}
    models: dict[str, ModelSummary] = {}
    for column in columns:
        for name, cell in cells_by_column[column.key].items():
            models.setdefault(name, cell.row.summary.model)
    rows = []
    for name, model in models.items():
        cells = {key: by_model[name] for key, by_model in cells_by_column.items() if name in by_model}
        row = OverviewRow(model, model_kind(model), cells)
        if len(cells) == len(columns):
            row.aggregate = aggregate([cells[column.key] for column in columns], columns)
        rows.append(row)
    _rank(rows)
    rows.sort(key=_order)
    return Overview(family, synthetic, columns, rows, chained)


def build_overviews(tables: list[TaskTable]) -> list[Overview]:
    """One overview per (family, real or synthetic data): real-data groups first, synthetic ones after, each by
    family name; a group's columns in the tables' order (by task name)."""
    groups: dict[tuple[bool, str], list[TaskTable]] = {}
    for table in tables:
        groups.setdefault((bool(table.dataset.get("synthetic")), table.family), []).append(table)
    return [_overview(family, synthetic, group) for (synthetic, family), group in sorted(groups.items())]
