"""Page data -> Jinja templates -> a static site that opens from disk (no server, no network)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import jinja2

from harness.config.io import REPO_ROOT

from harness.report.pages import (
    TaskTable, build_tables, few_shot_gains, load_rows, model_pages, paired_matrix, pareto_chart,
)
from harness.store import RunManifest, RunStore

REPORTS_DIR = REPO_ROOT / "reports"
SAMPLE_ROW_LIMIT = 5000


def _percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _signed(value: float) -> str:
    """Points with a sign; never "-0.0"."""
    points = round(100 * value, 1)
    return f"{points + 0.0:+.1f}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


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
    env.filters["slug"] = _slug
    env.filters["signed"] = _signed
    env.filters["tojson_compact"] = lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True)
    return env


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _sample_rows(folder: Path | None) -> list[dict[str, Any]]:
    """Per-sample explorer rows of a local run: the score line joined with its raw response (streamed, capped)."""
    if folder is None or not RunStore(folder).has_scores():
        return []
    store = RunStore(folder)
    scores = list(store.iter_scores(limit=SAMPLE_ROW_LIMIT))
    # only the responses the page shows are read (by offset), so a huge run folder is neither decoded nor held
    offsets = store.response_index(keys={score.get("key") for score in scores}).offsets
    rows = []
    with store.open_responses() as reader:
        for score in scores:
            offset = offsets.get(score.get("key") or "")
            response = reader.read_at(offset) if offset is not None else {}
            rows.append({**score, "text": response.get("text"), "reasoning": response.get("reasoning")})
    return rows


def _manifest(folder: Path | None) -> RunManifest | None:
    """A local run's manifest for its page; a published result has none."""
    store = RunStore(folder) if folder is not None else None
    return store.read_manifest() if store is not None and store.exists() else None


def build_site(sources: list[Path], out_dir: Path, published_dir: Path | None = None) -> Path:
    """Write the index, one page per task table, model and run, and the static assets; returns the index path."""
    tables: list[TaskTable] = build_tables(load_rows(sources), published_dir)
    env = _environment()
    out_dir.mkdir(parents=True, exist_ok=True)
    static_out = out_dir / "static"
    static_out.mkdir(exist_ok=True)
    for asset in sorted((REPORTS_DIR / "static").iterdir()):
        shutil.copyfile(asset, static_out / asset.name)
    charts = {table.anchor: pareto_chart(table) for table in tables}
    index = out_dir / "index.html"
    _write_text(index, env.get_template("index.html").render(tables=tables, charts=charts, root="."))
    for table in tables:
        page = env.get_template("task.html").render(
            table=table, chart=charts[table.anchor], matrix=paired_matrix(table), gains=few_shot_gains(table), root="..",
        )
        _write_text(out_dir / "tasks" / f"{_slug(table.anchor)}.html", page)
        for row in table.rows:
            manifest = _manifest(row.folder)
            page = env.get_template("run.html").render(
                row=row, table=table, manifest=manifest, samples=_sample_rows(row.folder), root="..",
                sample_limit=SAMPLE_ROW_LIMIT,
            )
            _write_text(out_dir / "runs" / f"{_slug(row.run_id)}.html", page)
    for name, model_page in model_pages(tables).items():
        page = env.get_template("model.html").render(root="..", model=model_page.model, entries=model_page.entries)
        _write_text(out_dir / "models" / f"{_slug(name)}.html", page)
    return index
