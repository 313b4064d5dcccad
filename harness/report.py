"""Run folders -> page data -> Jinja templates -> a static site that opens from disk."""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from harness.errors import OnkobenchError
from harness.stats import ranks_with_ties
from harness.store import MANIFEST, RESPONSES, SCORES, SUMMARY, read_json

REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"
SAMPLE_ROW_LIMIT = 5000


@dataclass
class Row:
    """One line of a leaderboard table: a model on a task variant."""

    summary: dict[str, Any]
    folder: Path
    rank: int = 0

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


def find_run_folders(paths: list[Path]) -> list[Path]:
    folders: set[Path] = set()
    for path in paths:
        if (path / SUMMARY).exists():
            folders.add(path)
        else:
            folders.update(p.parent for p in path.rglob(SUMMARY))
    if not folders:
        raise OnkobenchError(f"no run results (summary.json) under {', '.join(map(str, paths))}")
    return sorted(folders)


def _interval(row: Row) -> tuple[float, float]:
    lo, hi = row.primary.get("lo"), row.primary.get("hi")
    return (math.nan if lo is None else lo, math.nan if hi is None else hi)


def _table_key(summary: dict[str, Any]) -> tuple[str, str, str]:
    dataset = summary["dataset"]
    upstream = summary.get("upstream") or {}
    return (summary["task"], dataset.get("base_fingerprint", dataset["fingerprint"]), upstream.get("tag") or "")


def _attach_published(tables: dict[tuple[str, str, str], TaskTable], published_dir: Path | None) -> None:
    from harness.published import PUBLISHED_DIR, load_published

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


def build_tables(folders: list[Path], published_dir: Path | None = None) -> list[TaskTable]:
    tables: dict[tuple[str, str, str], TaskTable] = {}
    for folder in folders:
        summary = read_json(folder / SUMMARY)
        if not summary.get("task") or "metrics" not in summary:
            raise OnkobenchError(f"{folder / SUMMARY}: not a run summary")
        key = _table_key(summary)
        if key not in tables:
            order = summary.get("metric_order") or list(summary["metrics"])
            tables[key] = TaskTable(
                summary["task"], summary["family"], summary["primary_metric"], order,
                dataset=summary["dataset"], upstream=summary.get("upstream"), answer_kind=summary.get("answer_kind", ""),
            )
        tables[key].rows.append(Row(summary, folder))
    _attach_published(tables, published_dir)
    for table in tables.values():
        table.rows.sort(key=lambda r: (-(r.primary.get("value") or -1.0), r.summary["model"]["name"], r.summary["variant"]))
        for row, rank in zip(table.rows, ranks_with_ties([_interval(r) for r in table.rows])):
            row.rank = rank
    return [tables[key] for key in sorted(tables)]


def _percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPORTS_DIR / "templates")),
        autoescape=True,  # every model output and config string is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["percent"] = _percent
    env.filters["seconds"] = _seconds
    env.filters["tojson_compact"] = lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True)
    return env


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _sample_rows(folder: Path) -> list[dict[str, Any]]:
    """Per-sample explorer rows: the score line joined with its raw response (streamed, capped)."""
    responses: dict[str, dict[str, Any]] = {}
    if (folder / RESPONSES).exists():
        with (folder / RESPONSES).open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and "key" in row:
                    responses[row["key"]] = row
    rows = []
    if (folder / SCORES).exists():
        with (folder / SCORES).open(encoding="utf-8") as handle:
            for line in handle:
                if len(rows) >= SAMPLE_ROW_LIMIT:
                    break
                score = json.loads(line)
                response = responses.get(score.get("key") or "", {})
                rows.append({**score, "text": response.get("text"), "latency_s": response.get("latency_s")})
    return rows


def build_site(run_paths: list[Path], out_dir: Path, published_dir: Path | None = None) -> Path:
    """Write ``index.html``, one page per run and the static assets; returns the index path."""
    folders = find_run_folders(run_paths)
    tables = build_tables(folders, published_dir)
    env = _environment()
    out_dir.mkdir(parents=True, exist_ok=True)
    static_out = out_dir / "static"
    static_out.mkdir(exist_ok=True)
    for asset in sorted((REPORTS_DIR / "static").iterdir()):
        shutil.copyfile(asset, static_out / asset.name)
    index = out_dir / "index.html"
    _write_text(index, env.get_template("index.html").render(tables=tables, root="."))
    for table in tables:
        for row in table.rows:
            manifest = read_json(row.folder / MANIFEST) if (row.folder / MANIFEST).exists() else {}
            page = env.get_template("run.html").render(
                row=row, table=table, manifest=manifest, samples=_sample_rows(row.folder), root="..",
                sample_limit=SAMPLE_ROW_LIMIT,
            )
            _write_text(out_dir / "runs" / f"{row.run_id}.html", page)
    return index
