"""Page data for the leaderboard: rows, tables, ranks, references, comparisons and charts (no HTML here)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import OnkobenchError
from harness.stats import holm_adjust, paired_comparisons, ranks_with_ties
from harness.results import RESULT_KIND
from harness.store import RunStore, is_summary_file, read_json, run_folders_under



@dataclass
class Row:
    """One line of a leaderboard table: a model on a task variant (a local run or a published result)."""

    summary: dict[str, Any]
    folder: Path | None
    """The run folder for local runs; None for a published result (no per-sample data)."""
    rank: int = 0

    @cached_property
    def correct(self) -> dict[str, int]:
        """Per-item correctness keyed by sample id, for paired comparisons."""
        if "correct" in self.summary:
            return {str(k): int(v) for k, v in self.summary["correct"].items()}
        return RunStore(self.folder).correctness() if self.folder is not None else {}

    @property
    def label(self) -> str:
        return f"{self.summary['model']['display_name']} [{self.summary['variant']}]"

    @property
    def model_name(self) -> str:
        return self.summary["model"]["name"]

    @property
    def run_id(self) -> str:
        return self.summary["run_id"]

    def metric(self, name: str) -> dict[str, Any] | None:
        return self.summary["metrics"].get(name)

    @property
    def primary(self) -> dict[str, Any]:
        return self.summary["metrics"][self.summary["primary_metric"]]


@dataclass
class PublishedRef:
    model: str
    variant: str | None
    value: float
    note: str
    source: str
    same_data: bool
    """Measured on the same data set as this table (else shown apart, never ranked with it)."""


@dataclass
class TaskTable:
    """Rows that can be ranked together: one task, one dataset, one upstream chain."""

    task: str
    family: str
    primary_metric: str
    metric_order: list[str]
    rows: list[Row] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)
    upstream: dict[str, Any] | None = None
    answer_kind: str = ""
    published: list[PublishedRef] = field(default_factory=list)
    bands: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Metric -> reference band (lo, hi, label, source) drawn behind that metric's bars."""

    def reasoning_overhead(self, row: Row) -> dict[str, float] | None:
        """For a reasoning-on row: time and output tokens per item relative to the same model with reasoning off."""
        model = row.summary["model"]
        if model.get("reasoning") is not True or not model.get("model_id"):
            return None
        for other in self.rows:
            o = other.summary["model"]
            if (o.get("reasoning") is False and o.get("model_id") == model.get("model_id") and o.get("revision") == model.get("revision")
                    and o.get("adapter") == model.get("adapter") and other.summary["variant"] == row.summary["variant"]):
                factors = {}
                on_s, off_s = row.summary["latency"].get("seconds_per_item"), other.summary["latency"].get("seconds_per_item")
                if on_s and off_s:
                    factors["time"] = on_s / off_s
                on_t, off_t = row.summary["tokens"].get("mean_n_output_tokens"), other.summary["tokens"].get("mean_n_output_tokens")
                if on_t and off_t:
                    factors["tokens"] = on_t / off_t
                return factors or None
        return None

    @property
    def draw_spreads(self) -> list[dict[str, Any]]:
        """Per model and few-shot variant with several random draws (``name@i``): the spread of the score."""
        groups: dict[tuple[str, str], list[float]] = {}
        for row in self.rows:
            variant = row.summary["variant"]
            value = row.primary.get("value")
            if "@" in variant and value is not None:
                groups.setdefault((row.summary["model"]["display_name"], variant.split("@")[0]), []).append(value)
        spreads = []
        for (model, variant), values in sorted(groups.items()):
            if len(values) > 1:
                mean = sum(values) / len(values)
                sd = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
                spreads.append({"model": model, "variant": variant, "n": len(values), "min": min(values),
                                "max": max(values), "mean": mean, "sd": sd})
        return spreads

    @property
    def anchor(self) -> str:
        tag = (self.upstream or {}).get("tag")
        return f"{self.task}--{self.dataset.get('base_fingerprint', self.dataset.get('fingerprint', ''))[:8]}" + (f"--{tag}" if tag else "")

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
            if name == "p_error" and not any((r.metric(name) or {}).get("value") for r in self.rows):
                continue
            shown.append(name)
        return shown


def _is_result(path: Path) -> bool:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("kind") == RESULT_KIND
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False


def load_rows(paths: list[Path]) -> list[Row]:
    """Rows from scored run folders and published results (``*.json`` of kind onkobench-result)."""
    rows: list[Row] = []
    for path in paths:
        if path.is_file():
            if not _is_result(path):
                raise OnkobenchError(f"{path}: not a published onkobench result")
            rows.append(Row(read_json(path), None))
            continue
        for folder in run_folders_under(path):
            rows.append(Row(RunStore(folder).read_summary().model_dump(mode="json"), folder))
        for result in sorted(path.rglob("*.json")) if path.is_dir() else []:
            if not is_summary_file(result) and result.parent.name != "static" and _is_result(result):
                rows.append(Row(read_json(result), None))
    if not rows:
        raise OnkobenchError(f"no run results (scored run folders or published *.json) under {', '.join(map(str, paths))}")
    return rows


def _primary_value(row: Row) -> float:
    """The primary metric for ordering; a row without one goes below every scored row (0.0 included)."""
    value = row.primary.get("value")
    return -math.inf if value is None else value


def _interval(row: Row) -> tuple[float, float]:
    lo, hi = row.primary.get("lo"), row.primary.get("hi")
    return (math.nan if lo is None else lo, math.nan if hi is None else hi)


def _table_key(summary: dict[str, Any]) -> tuple[str, str, str]:
    dataset = summary["dataset"]
    upstream = summary.get("upstream") or {}
    return (summary["task"], dataset.get("base_fingerprint", dataset["fingerprint"]), upstream.get("tag") or "")


def _attach_published(tables: dict[tuple[str, str, str], TaskTable], published_dir: Path | None) -> None:
    from harness.report.published import PUBLISHED_DIR, load_published

    for reference in load_published(published_dir or PUBLISHED_DIR):
        for table in tables.values():
            for band in reference.bands:
                if band.answer_kind == table.answer_kind:
                    table.bands[band.metric] = {"lo": band.lo, "hi": band.hi, "label": band.label, "source": reference.source}
            if (table.upstream or {}).get("tag") == "gold":
                continue  # the studies report chained results, not gold-input ones
            same_data = table.dataset.get("source", "").startswith(reference.dataset)
            for row in reference.rows:
                if row.task == table.task and row.metric == table.primary_metric:
                    table.published.append(
                        PublishedRef(row.model, row.variant, row.value, row.note, reference.source, same_data)
                    )


def build_tables(sources: list[Path] | list[Row], published_dir: Path | None = None) -> list[TaskTable]:
    rows = sources if sources and isinstance(sources[0], Row) else load_rows(list(sources))  # type: ignore[arg-type]
    tables: dict[tuple[str, str, str], TaskTable] = {}
    for row in rows:
        summary = row.summary
        if not summary.get("task") or "metrics" not in summary:
            raise OnkobenchError(f"{row.folder}: not a run summary")
        key = _table_key(summary)
        if key not in tables:
            order = summary.get("metric_order") or list(summary["metrics"])
            tables[key] = TaskTable(
                summary["task"], summary["family"], summary["primary_metric"], order,
                dataset=summary["dataset"], upstream=summary.get("upstream"), answer_kind=summary.get("answer_kind", ""),
            )
        tables[key].rows.append(row)
    _attach_published(tables, published_dir)
    for table in tables.values():
        table.rows.sort(key=lambda r: (-_primary_value(r), r.summary["model"]["name"], r.summary["variant"]))
        for row, rank in zip(table.rows, ranks_with_ties([_interval(r) for r in table.rows])):
            row.rank = rank
    return [tables[key] for key in sorted(tables)]




SIGNIFICANCE = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


def significance_mark(p: float) -> str:
    return next((mark for limit, mark in SIGNIFICANCE if p < limit), "")


MATRIX_ROWS = 50
"""A task page compares at most this many rows pairwise (the best by the primary metric): 1,225 pairs."""


def paired_matrix(table: TaskTable, limit: int = MATRIX_ROWS) -> dict[str, Any]:
    """Pairs of rows on the same items: accuracy difference, exact McNemar p, Holm-adjusted across the table."""
    with_items = [r for r in table.rows if r.correct]
    rows = sorted(with_items, key=lambda r: -_primary_value(r))[:limit]
    rows.sort(key=with_items.index)  # keep the table's order
    by_items: dict[tuple[str, ...], list[int]] = {}
    for position, row in enumerate(rows):
        by_items.setdefault(tuple(sorted(row.correct)), []).append(position)
    pairs: list[tuple[Row, Row, Any]] = []
    for items, members in by_items.items():
        if len(members) < 2:
            continue
        correct = np.array([[rows[m].correct[k] for m in members] for k in items], dtype=float)
        index_pairs = [(i, j) for i in range(len(members)) for j in range(i + 1, len(members))]
        for (i, j), comparison in zip(index_pairs, paired_comparisons(correct, index_pairs)):
            pairs.append((rows[members[i]], rows[members[j]], comparison))
    position = {id(row): i for i, row in enumerate(rows)}
    pairs.sort(key=lambda pair: (position[id(pair[0])], position[id(pair[1])]))
    adjusted = holm_adjust([c.p_value for _, _, c in pairs])
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for (a, b, comparison), p_holm in zip(pairs, adjusted):
        cell = {"difference": comparison.difference, "lo": comparison.lo, "hi": comparison.hi,
                "p": comparison.p_value, "p_holm": p_holm, "mark": significance_mark(p_holm), "n": comparison.n}
        cells[(a.run_id, b.run_id)] = cell
        cells[(b.run_id, a.run_id)] = {**cell, "difference": -comparison.difference, "lo": -comparison.hi, "hi": -comparison.lo}
    return {"rows": rows, "cells": cells, "n_tests": len(pairs), "left_out": len(with_items) - len(rows)}


def few_shot_gains(table: TaskTable, zero_shot: str = "0") -> list[dict[str, Any]]:
    """Per model: each variant's primary score minus its zero-shot score (variant ``0``)."""
    by_model: dict[str, dict[str, Row]] = {}
    for row in table.rows:
        by_model.setdefault(row.model_name, {})[row.summary["variant"]] = row
    gains = []
    for model, variants in sorted(by_model.items()):
        base = variants.get(zero_shot)
        if base is None or base.primary.get("value") is None:
            continue
        for name, row in sorted(variants.items()):
            if name != zero_shot and row.primary.get("value") is not None:
                gains.append({"model": row.summary["model"]["display_name"], "variant": name,
                              "zero_shot": base.primary["value"], "value": row.primary["value"],
                              "gain": row.primary["value"] - base.primary["value"]})
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


CHART = {"width": 520, "height": 300, "left": 52, "right": 16, "top": 14, "bottom": 40}


def pareto_chart(table: TaskTable) -> dict[str, Any] | None:
    """Accuracy against seconds per item (log scale); the frontier = rows no other row beats on both."""
    points = [(r, r.summary["latency"].get("seconds_per_item"), r.primary.get("value")) for r in table.rows]
    points = [(r, x, y) for r, x, y in points if x and y is not None and x > 0]
    if len(points) < 2:
        return None
    xs = [math.log10(x) for _, x, _ in points]
    lo, hi = min(xs), max(xs)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    width = CHART["width"] - CHART["left"] - CHART["right"]
    height = CHART["height"] - CHART["top"] - CHART["bottom"]
    chart_points = []
    for (row, x, y), lx in zip(points, xs):
        dominated = any(ox <= x and oy >= y and (ox < x or oy > y) for _, ox, oy in points)
        chart_points.append(ChartPoint(row.label, x, y, CHART["left"] + (lx - lo) / (hi - lo) * width,
                                       CHART["top"] + (1 - y) * height, not dominated, row.run_id))
    frontier = sorted((p for p in chart_points if p.on_frontier), key=lambda p: p.px)
    ticks = [10 ** e for e in range(math.floor(lo), math.ceil(hi) + 1)]
    return {
        **CHART,
        "points": chart_points,
        "frontier": " ".join(f"{p.px:.1f},{p.py:.1f}" for p in frontier),
        "x_ticks": [(CHART["left"] + (math.log10(t) - lo) / (hi - lo) * width, t) for t in ticks if lo <= math.log10(t) <= hi],
        "y_ticks": [(CHART["top"] + (1 - v) * height, v) for v in (0, 0.25, 0.5, 0.75, 1.0)],
        "band": table.bands.get(table.primary_metric),
        "plot_bottom": CHART["top"] + height,
        "plot_right": CHART["left"] + width,
    }


def model_pages(tables: list[TaskTable]) -> dict[str, dict[str, Any]]:
    """Per model: its metadata and every (table, row) it appears in."""
    pages: dict[str, dict[str, Any]] = {}
    for table in tables:
        for row in table.rows:
            page = pages.setdefault(row.model_name, {"model": row.summary["model"], "entries": []})
            page["entries"].append((table, row))
    return pages
