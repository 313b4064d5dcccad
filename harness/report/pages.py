"""Page data for the leaderboard: rows, tables, ranks, references, comparisons and charts (no HTML here)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.errors import OnkobenchError
from harness.stats import PairedComparison, holm_adjust, paired_unit_comparisons, ranks_with_ties
from harness.results import PairedUnits, PublishedResult, Reproduction, ResultSummary, read_result, run_units
from harness.store import MetricEstimate, ModelSummary, RunStore, is_summary_file, refuse_shard, run_folders_under
from harness.verification import standing_reproduction


@dataclass
class Row:
    """One line of a leaderboard table: a model on a task variant (a local run or a published result)."""

    summary: ResultSummary
    folder: Path | None
    """The run folder for local runs; None for a published result (no per-sample data)."""
    rank: int = 0

    @cached_property
    def units(self) -> PairedUnits | None:
        """The primary metric's per-unit outcomes keyed by unit id (snippet, query or item, as the metric counts), for
        paired comparisons; None where there are none (an old published result, a metric declaring no units)."""
        if isinstance(self.summary, PublishedResult):
            return self.summary.paired_units()
        return run_units(self.folder) if self.folder is not None else None

    @cached_property
    def reproduction(self) -> Reproduction | None:
        """A maintainer's verification that still describes this published result (None for a local run).
        Cached: checking it hashes the whole result."""
        return standing_reproduction(self.summary) if isinstance(self.summary, PublishedResult) else None

    @property
    def verification(self) -> str:
        """Who vouches for the row's numbers: "reproduced" / "not reproduced" by a maintainer's rerun, "changed since
        verified" (the result was edited after its verification), "self-reported" (a published result never
        verified), or "local run"."""
        if not isinstance(self.summary, PublishedResult):
            return "local run"
        if self.reproduction is not None:
            return "reproduced" if self.reproduction.reproduced else "not reproduced"
        return "changed since verified" if self.summary.reproduction is not None else "self-reported"

    @property
    def variant_label(self) -> str:
        """The variant as the site names it: with the prompt pack (name and hash) when the run used one, so a pack's
        wording and onkobench's own are never shown alike."""
        pack = self.summary.prompt_pack
        if pack is None:
            return self.summary.variant
        if not pack.variant_in_pack:
            return f"{self.summary.variant} (own wording; pack {pack.name}@{pack.hash[:8]} lacks it)"
        return f"{self.summary.variant} · prompts {pack.name}@{pack.hash[:8]}"

    @property
    def label(self) -> str:
        return f"{self.summary.model.display_name} [{self.variant_label}]"

    @property
    def model_name(self) -> str:
        return self.summary.model.name

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    def metric(self, name: str) -> MetricEstimate | None:
        return self.summary.metrics.get(name)

    @property
    def primary(self) -> MetricEstimate:
        return self.summary.primary


@dataclass
class PublishedRef:
    model: str
    variant: str | None
    value: float
    note: str
    source: str
    same_data: bool
    """Measured on the same data set as this table (else shown apart, never ranked with it)."""
    same_chain: bool = True
    """Measured on the same upstream chain as this table's runs (else listed apart as "other chain")."""
    inline: bool = False
    """Shown among the table's rows: same data and chain, and the study's best for its model on this chain or the
    same model and variant as a local row; the rest are listed below the table."""
    figure: str = ""
    chain_label: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    """Secondary metrics, by metric name."""


@dataclass(frozen=True)
class BandRef:
    """A reference range (e.g. the label-quality ceiling) and the study it comes from."""

    lo: float
    hi: float
    label: str
    source: str


@dataclass(frozen=True)
class DrawSpread:
    """The spread of one model's score over several random few-shot draws of a variant."""

    model: str
    variant: str
    n: int
    min: float
    max: float
    mean: float
    sd: float


@dataclass
class TaskTable:
    """Rows that can be ranked together: one task, one dataset, one upstream chain."""

    task: str
    family: str
    primary_metric: str
    metric_order: list[str]
    fingerprint: str
    """The data the rows are compared on (a chained step's base data set)."""
    rows: list[Row] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)
    upstream: dict[str, Any] | None = None
    answer_kind: str = ""
    published: list[PublishedRef] = field(default_factory=list)
    bands: dict[str, BandRef] = field(default_factory=dict)
    """Metric -> reference band drawn behind that metric's bars."""

    def reasoning_overhead(self, row: Row) -> dict[str, float] | None:
        """For a reasoning-on row: time and output tokens per item relative to the same model with reasoning off."""
        model = row.summary.model
        if model.reasoning is not True or not model.model_id:
            return None
        for other in self.rows:
            o = other.summary.model
            if (o.reasoning is False and o.model_id == model.model_id and o.revision == model.revision
                    and o.adapter == model.adapter and other.summary.variant == row.summary.variant):
                factors = {}
                on_s, off_s = row.summary.latency.get("seconds_per_item"), other.summary.latency.get("seconds_per_item")
                if on_s and off_s:
                    factors["time"] = on_s / off_s
                on_t, off_t = row.summary.tokens.get("mean_n_output_tokens"), other.summary.tokens.get("mean_n_output_tokens")
                if on_t and off_t:
                    factors["tokens"] = on_t / off_t
                return factors or None
        return None

    @property
    def draw_spreads(self) -> list[DrawSpread]:
        """Per model and few-shot variant with several random draws (``name@i``): the spread of the score."""
        groups: dict[tuple[str, str], list[float]] = {}
        for row in self.rows:
            variant = row.summary.variant
            value = row.primary.value
            if "@" in variant and value is not None:
                groups.setdefault((row.summary.model.display_name, variant.split("@")[0]), []).append(value)
        spreads = []
        for (model, variant), values in sorted(groups.items()):
            if len(values) > 1:
                mean = sum(values) / len(values)
                sd = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
                spreads.append(DrawSpread(model, variant, len(values), min(values), max(values), mean, sd))
        return spreads

    @property
    def anchor(self) -> str:
        tag = (self.upstream or {}).get("tag")
        return f"{self.task}--{self.fingerprint[:8]}" + (f"--{tag}" if tag else "")

    @property
    def chain_label(self) -> str:
        if not self.upstream:
            return ""
        if self.upstream.get("tag") == "gold":
            return "on gold inputs"
        return f"on run {self.upstream.get('run_id')}"

    @property
    def has_malformed(self) -> bool:
        return "p_malformed" in self.metric_order

    @property
    def metric_columns(self) -> list[str]:
        """Secondary metrics; p_error only where some row has errors."""
        shown = []
        for name in self.metric_order:
            if name in (self.primary_metric, "p_malformed"):
                continue
            if name == "p_error" and not any((estimate := r.metric(name)) is not None and estimate.value for r in self.rows):
                continue
            shown.append(name)
        return shown


def load_rows(paths: list[Path]) -> list[Row]:
    """Rows from scored run folders and published results (``*.json`` of kind onkobench-result).

    A path in a results folder (its nearest folder named results, suites, tasks or models is ``results``, as
    ``onkobench validate`` decides) gives published results only, and only when every one of them passes
    ``onkobench validate`` (metrics recomputed, configs compared, no text): the public site is built from
    ``leaderboards/results``, so a run folder, summary, link or unknown file copied there never becomes a page.
    """
    from harness.validation import is_results_path, validated_results

    rows: list[Row] = []
    for path in paths:
        if is_results_path(path):
            rows.extend(Row(published, None) for published in validated_results(path))
            continue
        if path.is_file():
            published = read_result(path)
            if published is None:
                raise OnkobenchError(f"{path}: not a published onkobench result")
            rows.append(Row(published, None))
            continue
        for folder in run_folders_under(path):
            summary = RunStore(folder).read_summary()
            refuse_shard(summary.shard, folder, "the report")
            rows.append(Row(summary, folder))
        for result_path in sorted(path.rglob("*.json")) if path.is_dir() else []:
            if not is_summary_file(result_path) and result_path.parent.name != "static":
                if (published := read_result(result_path)) is not None:
                    rows.append(Row(published, None))
    if not rows:
        raise OnkobenchError(f"no run results (scored run folders or published *.json) under {', '.join(map(str, paths))}")
    return rows


def _primary_value(row: Row) -> float:
    """The primary metric for ordering; a row without one goes below every scored row (0.0 included)."""
    value = row.primary.value
    return -math.inf if value is None else value


def _interval(row: Row) -> tuple[float, float]:
    lo, hi = row.primary.lo, row.primary.hi
    return (math.nan if lo is None else lo, math.nan if hi is None else hi)


def _table_key(summary: ResultSummary) -> tuple[str, str, str]:
    return (summary.task, summary.table_fingerprint, (summary.upstream or {}).get("tag") or "")


def _lineage(upstream: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """A table's upstream runs, nearest first: [] when not chained, None when its runs did not record them."""
    if not upstream:
        return []
    lineage = upstream.get("lineage")
    return lineage if isinstance(lineage, list) else None


def _attach_published(tables: dict[tuple[str, str, str], TaskTable], published_dir: Path | None) -> None:
    from harness.report.published import PUBLISHED_DIR, load_published

    for reference in load_published(published_dir or PUBLISHED_DIR):
        for table in tables.values():
            for band in reference.bands:
                if band.applies_to(table.answer_kind, table.dataset):
                    table.bands[band.metric] = BandRef(band.lo, band.hi, band.label, reference.source)
            if (table.upstream or {}).get("tag") == "gold":
                continue  # the studies report chained results, not gold-input ones
            same_data = table.dataset.get("source", "").startswith(reference.dataset)
            lineage = _lineage(table.upstream)
            rows = [row for row in reference.rows if row.task == table.task and row.metric == table.primary_metric]
            refs = [PublishedRef(row.model, row.variant, row.value, row.note, reference.source, same_data,
                                 same_chain=reference.chain_matches(row, lineage), figure=row.figure,
                                 chain_label=row.chain.label if row.chain else "", metrics=dict(row.metrics))
                    for row in rows]
            best: dict[str, float] = {}
            for ref in refs:
                if ref.same_data and ref.same_chain:
                    best[ref.model] = max(best.get(ref.model, ref.value), ref.value)
            local = {(r.model_name, r.summary.variant) for r in table.rows}
            for row, ref in zip(rows, refs):
                # a tie for a model's best shows every tied variant (the study picked one by file order)
                ref.inline = ref.same_data and ref.same_chain and (
                    ref.value == best[ref.model] or any(reference.runs_same(row, *pair) for pair in local))
            table.published.extend(refs)


def build_tables(sources: list[Path] | list[Row], published_dir: Path | None = None) -> list[TaskTable]:
    rows = sources if sources and isinstance(sources[0], Row) else load_rows(list(sources))  # type: ignore[arg-type]
    tables: dict[tuple[str, str, str], TaskTable] = {}
    for row in rows:
        summary = row.summary
        key = _table_key(summary)
        if key not in tables:
            tables[key] = TaskTable(
                summary.task, summary.family, summary.primary_metric, summary.metric_order, summary.table_fingerprint,
                dataset=summary.dataset, upstream=summary.upstream, answer_kind=summary.answer_kind,
            )
        tables[key].rows.append(row)
    _attach_published(tables, published_dir)
    for table in tables.values():
        table.rows.sort(key=lambda r: (-_primary_value(r), r.model_name, r.summary.variant))
        for row, rank in zip(table.rows, ranks_with_ties([_interval(r) for r in table.rows])):
            row.rank = rank
    return [tables[key] for key in sorted(tables)]


SIGNIFICANCE = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


def significance_mark(p: float) -> str:
    return next((mark for limit, mark in SIGNIFICANCE if p < limit), "")


MATRIX_ROWS = 50
"""A task page compares at most this many rows pairwise (the best by the primary metric): 1,225 pairs."""


@dataclass(frozen=True)
class PairCell:
    """Row minus column on their shared units: difference with its paired-bootstrap interval, p-value (``method``:
    exact McNemar on binary outcomes, else from the paired bootstrap of the metric itself)."""

    difference: float
    lo: float
    hi: float
    p: float
    p_holm: float
    mark: str
    n: int
    method: str = "mcnemar"


@dataclass(frozen=True)
class PairedMatrix:
    rows: list[Row]
    cells: dict[tuple[str, str], PairCell]
    """(row run id, column run id) -> cell, both ways round."""
    n_tests: int
    left_out: int
    """Rows with units beyond the ``limit`` best, not compared."""
    unit: str = "sample"
    """What the rows are compared on, unit by unit (the primary metric's unit)."""
    methods: tuple[str, ...] = ()
    """The tests used (``mcnemar``, ``bootstrap``), for the page's legend."""


def unit_pairs(rows: list[Row]) -> list[tuple[Row, Row, PairedComparison]]:
    """Every pair of rows with the same units, compared on the primary metric's per-unit outcomes aligned by unit id."""
    by_units: dict[tuple[str, ...], list[int]] = {}
    for position, row in enumerate(rows):
        by_units.setdefault(tuple(sorted(row.units.outcomes)), []).append(position)  # type: ignore[union-attr]
    pairs: list[tuple[Row, Row, PairedComparison]] = []
    for units, members in by_units.items():
        if len(members) < 2:
            continue
        outcomes = [rows[m].units.outcomes for m in members]  # type: ignore[union-attr]
        numerator = np.array([[o[u][0] for o in outcomes] for u in units], dtype=float).reshape(len(units), len(members))
        denominator = np.array([[o[u][1] for o in outcomes] for u in units], dtype=float).reshape(len(units), len(members))
        if_empty = rows[members[0]].units.if_empty  # type: ignore[union-attr]
        index_pairs = [(i, j) for i in range(len(members)) for j in range(i + 1, len(members))]
        comparisons = paired_unit_comparisons(numerator, denominator, index_pairs, math.nan if if_empty is None else if_empty)
        for (i, j), comparison in zip(index_pairs, comparisons):
            pairs.append((rows[members[i]], rows[members[j]], comparison))
    return pairs


def paired_matrix(table: TaskTable, limit: int = MATRIX_ROWS) -> PairedMatrix:
    """Pairs of rows on the same units of the primary metric (a per-snippet metric snippet by snippet): the metric's
    difference, exact McNemar p for binary outcomes or the paired bootstrap's for a ratio such as F1, Holm-adjusted
    across the table."""
    if len(table.rows) < 2:  # nothing to pair: a single run's units are never read (a large run's are many)
        return PairedMatrix([], {}, 0, 0)
    with_units = [r for r in table.rows if r.units is not None and r.units.metric == table.primary_metric and r.units.outcomes]
    rows = sorted(with_units, key=lambda r: -_primary_value(r))[:limit]
    rows.sort(key=with_units.index)  # keep the table's order
    pairs = unit_pairs(rows)
    position = {id(row): i for i, row in enumerate(rows)}
    pairs.sort(key=lambda pair: (position[id(pair[0])], position[id(pair[1])]))
    adjusted = holm_adjust([c.p_value for _, _, c in pairs])
    cells: dict[tuple[str, str], PairCell] = {}
    for (a, b, comparison), p_holm in zip(pairs, adjusted):
        cell = PairCell(comparison.difference, comparison.lo, comparison.hi, comparison.p_value, p_holm,
                        significance_mark(p_holm), comparison.n, comparison.method)
        cells[(a.run_id, b.run_id)] = cell
        cells[(b.run_id, a.run_id)] = replace(cell, difference=-comparison.difference, lo=-comparison.hi, hi=-comparison.lo)
    unit = rows[0].units.unit if rows else "sample"  # type: ignore[union-attr]
    methods = tuple(sorted({c.method for _, _, c in pairs}, key=("mcnemar", "bootstrap").index))
    return PairedMatrix(rows, cells, len(pairs), len(with_units) - len(rows), unit, methods)


@dataclass(frozen=True)
class FewShotGain:
    model: str
    """The model's display name."""
    variant: str
    zero_shot: float
    value: float
    gain: float
    """``value - zero_shot``."""


def few_shot_gains(table: TaskTable, zero_shot: str = "0") -> list[FewShotGain]:
    """Per model: each variant's primary score minus its zero-shot score (variant ``0``)."""
    by_model: dict[tuple[str, str], dict[str, Row]] = {}
    for row in table.rows:
        # a pack's variants are compared with the same pack's zero-shot run
        pack = row.summary.prompt_pack.hash if row.summary.prompt_pack else ""
        by_model.setdefault((row.model_name, pack), {})[row.summary.variant] = row
    gains = []
    for _, variants in sorted(by_model.items()):
        base = variants.get(zero_shot)
        if base is None or base.primary.value is None:
            continue
        for name, row in sorted(variants.items()):
            if name != zero_shot and row.primary.value is not None:
                gains.append(FewShotGain(row.summary.model.display_name, row.variant_label, base.primary.value, row.primary.value,
                                         row.primary.value - base.primary.value))
    return gains


@dataclass(frozen=True)
class ChartPoint:
    label: str
    x: float
    y: float
    px: float
    py: float
    on_frontier: bool
    run_id: str
    clamped: bool = False
    """The row's time per item is below the axis (0 s as measured): drawn at the axis's lowest tick."""


@dataclass(frozen=True)
class ParetoChart:
    """An SVG chart in pixels: the plot area runs from (left, top) to (plot_right, plot_bottom)."""

    points: list[ChartPoint]
    frontier: str
    """SVG polyline points joining the frontier, left to right."""
    x_ticks: list[tuple[float, float]]
    """(pixel x, seconds) per power of ten in range."""
    y_ticks: list[tuple[float, float]]
    """(pixel y, score)."""
    band: BandRef | None
    floor_s: float = 0.0
    """The lowest tick (seconds): times below it (0 s) are drawn there and labelled "below"."""
    width: ClassVar[int] = 520
    height: ClassVar[int] = 300
    left: ClassVar[int] = 52
    right: ClassVar[int] = 16
    top: ClassVar[int] = 14
    bottom: ClassVar[int] = 40
    plot_right: ClassVar[int] = width - right
    plot_bottom: ClassVar[int] = height - bottom
    inset: ClassVar[int] = 10
    """Pixels between the axis lines and the outermost ticks, so no point sits on an axis."""


AXIS_MARGIN = 0.1
"""Decades kept between the fastest (slowest) measured time and the first (last) tick of the time axis."""


def _time_axis(times: list[float]) -> tuple[int, int]:
    """Whole decades (exponents) spanning every positive time with a margin, at least one decade wide."""
    logs = [math.log10(t) for t in times]
    lo, hi = math.floor(min(logs) - AXIS_MARGIN), math.ceil(max(logs) + AXIS_MARGIN)
    return lo, max(hi, lo + 1)


def pareto_chart(table: TaskTable) -> ParetoChart | None:
    """Accuracy against seconds per item (log scale); the frontier = rows no other row beats on both.

    The time axis runs over whole decades from below the fastest positive time to above the slowest, so every point
    lies inside it (a sub-millisecond baseline too); a time of 0 s (below any clock's resolution) is drawn at the
    lowest tick and marked as below it."""
    points = [(r, r.summary.latency.get("seconds_per_item"), r.primary.value) for r in table.rows]
    measured = [(r, x, y) for r, x, y in points if x is not None and x >= 0 and y is not None]
    positive = [x for _, x, _ in measured if x > 0]
    if len(measured) < 2 or not positive:
        return None
    lo, hi = _time_axis(positive)
    left, right = ParetoChart.left + ParetoChart.inset, ParetoChart.plot_right - ParetoChart.inset
    height = ParetoChart.plot_bottom - ParetoChart.top

    def px(seconds: float) -> float:
        return left + (math.log10(max(seconds, 10.0 ** lo)) - lo) / (hi - lo) * (right - left)

    chart_points = []
    for row, x, y in measured:
        dominated = any(ox <= x and oy >= y and (ox < x or oy > y) for _, ox, oy in measured)
        chart_points.append(ChartPoint(row.label, x, y, px(x), ParetoChart.top + (1 - y) * height, not dominated,
                                       row.run_id, clamped=x < 10.0 ** lo))
    frontier = sorted((p for p in chart_points if p.on_frontier), key=lambda p: p.px)
    return ParetoChart(
        points=chart_points,
        frontier=" ".join(f"{p.px:.1f},{p.py:.1f}" for p in frontier),
        x_ticks=[(px(10.0 ** e), 10.0 ** e) for e in range(lo, hi + 1)],
        y_ticks=[(ParetoChart.top + (1 - v) * height, v) for v in (0, 0.25, 0.5, 0.75, 1.0)],
        band=table.bands.get(table.primary_metric),
        floor_s=10.0 ** lo,
    )


@dataclass
class ModelPage:
    model: ModelSummary
    entries: list[tuple[TaskTable, Row]] = field(default_factory=list)
    """Every (table, row) the model appears in."""


def model_pages(tables: list[TaskTable]) -> dict[str, ModelPage]:
    """Per model: its metadata and every (table, row) it appears in."""
    pages: dict[str, ModelPage] = {}
    for table in tables:
        for row in table.rows:
            pages.setdefault(row.model_name, ModelPage(row.summary.model)).entries.append((table, row))
    return pages
