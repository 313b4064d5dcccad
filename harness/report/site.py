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
from harness.errors import OnkobenchError

from harness.report.findings import group_findings
from harness.report.overview import build_overviews, model_kind
from harness.report.pages import (
    TaskTable, build_tables, few_shot_gains, load_rows, model_pages, paired_matrix, pareto_chart,
)
from harness.store import RunManifest, RunStore

REPORTS_DIR = REPO_ROOT / "reports"
SAMPLE_ROW_LIMIT = 5000
SHOWN_TEXT_LIMIT = 20_000
"""Characters of one output (or reasoning trace) a run page shows: a 100 MB answer must not make a 100 MB page;
the full text stays in the run folder."""
SITE_MARKER = ".onkobench-site"
"""Written into every site: a folder holding it may be replaced by the next ``report``."""
_OLD_SITE_ENTRIES = frozenset({"index.html", "static", "tasks", "runs", "models"})
"""What a site built before the marker holds; such a folder may be replaced too."""


def _percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "0 s"
    if value < 0.0001:  # "0.0 ms" would read as no time at all
        return f"{value * 1e6:.1f} µs"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _tick_seconds(value: float) -> str:
    """A power of ten of seconds as an axis tick: 10 µs, 1 ms, 100 s."""
    units = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6))
    unit, scale = next(((unit, scale) for unit, scale in units if value >= scale * 0.999), ("ns", 1e-9))
    return f"{value / scale:g} {unit}"


def _signed(value: float) -> str:
    """Points with a sign; never "-0.0"."""
    points = round(100 * value, 1)
    return f"{points + 0.0:+.1f}"


def _engine_layout(engine: Any) -> str:
    """How a run's engine was spread, for the table: ``TP 2 · DP 1 · ray``-like sizes above 1 (vLLM), ``3 replicas``
    (several servers); empty for one device. Read from a result file, so any shape gives a string."""
    if not isinstance(engine, dict):
        return ""
    parts = []
    parallel = engine.get("parallel")
    if isinstance(parallel, dict):
        for field, short in (("tensor_parallel_size", "TP"), ("pipeline_parallel_size", "PP"), ("data_parallel_size", "DP")):
            size = parallel.get(field)
            if type(size) is int and size > 1:
                parts.append(f"{short} {size}")
        backend = parallel.get("executor_backend_used") or parallel.get("distributed_executor_backend")
        if parts and isinstance(backend, str):
            parts.append(backend[:40])
    replicas = engine.get("replicas")
    if type(replicas) is int and replicas > 1:
        parts.append(f"{replicas} replicas")
    return " · ".join(parts)


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
    env.filters["tick_seconds"] = _tick_seconds
    env.filters["slug"] = _slug
    env.filters["engine_layout"] = _engine_layout
    env.filters["signed"] = _signed
    env.filters["tojson_compact"] = lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True)
    return env


def _write_text(path: Path, text: str) -> None:
    # written straight: the whole site is built in a folder of its own and swapped in at the end
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _shown(text: Any) -> Any:
    """A text as a run page shows it: at most SHOWN_TEXT_LIMIT characters, saying how many were cut."""
    if not isinstance(text, str) or len(text) <= SHOWN_TEXT_LIMIT:
        return text
    cut = len(text) - SHOWN_TEXT_LIMIT
    return f"{text[:SHOWN_TEXT_LIMIT]}\n[... {cut:,} more characters not shown; the full text is in the run folder]"


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
            rows.append({**score, "text": _shown(response.get("text")), "reasoning": _shown(response.get("reasoning"))})
    return rows


def _manifest(folder: Path | None) -> RunManifest | None:
    """A local run's manifest for its page; a published result has none."""
    store = RunStore(folder) if folder is not None else None
    return store.read_manifest() if store is not None and store.exists() else None


def _check_replaceable(out_dir: Path) -> None:
    """Refuse an ``--out`` that is something else than a site: replacing it would delete what it holds."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise OnkobenchError(f"{out_dir}: not a folder; choose another --out")
    entries = {entry.name for entry in out_dir.iterdir()}
    if entries and SITE_MARKER not in entries and not entries <= _OLD_SITE_ENTRIES:
        other = sorted(entries - _OLD_SITE_ENTRIES)[0]
        raise OnkobenchError(f"{out_dir}: holds {other!r}, so it is not a site built by onkobench report and would be "
                             "replaced; choose another --out (an empty or new folder)")


def _swap_in(built: Path, out_dir: Path) -> None:
    """Put the finished site in place of the old one (two renames on one file system; the old is removed after)."""
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    if out_dir.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out_dir, old)
    try:
        os.rename(built, out_dir)
    except OSError:
        if old.exists():
            os.rename(old, out_dir)  # the previous site back in place
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_site(tables: list[TaskTable], out_dir: Path) -> None:
    """The index, one page per task table, model and run, and the static assets."""
    env = _environment()
    static_out = out_dir / "static"
    static_out.mkdir(parents=True, exist_ok=True)
    for asset in sorted((REPORTS_DIR / "static").iterdir()):
        shutil.copyfile(asset, static_out / asset.name)
    overviews = build_overviews(tables)
    findings = {overview.anchor: group_findings(overview) for overview in overviews}
    index = env.get_template("index.html").render(tables=tables, overviews=overviews, findings=findings, root=".")
    _write_text(out_dir / "index.html", index)
    for table in tables:
        page = env.get_template("task.html").render(
            table=table, chart=pareto_chart(table), matrix=paired_matrix(table), gains=few_shot_gains(table), root="..",
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
        page = env.get_template("model.html").render(root="..", model=model_page.model, kind=model_kind(model_page.model),
                                                     entries=model_page.entries)
        _write_text(out_dir / "models" / f"{_slug(name)}.html", page)
    _write_text(out_dir / SITE_MARKER, "built by onkobench report; the next report replaces this folder\n")


def build_site(sources: list[Path], out_dir: Path, published_dir: Path | None = None) -> Path:
    """Write the static site into ``out_dir``; returns the index path.

    The site is built in a folder beside ``out_dir`` and swapped in only when complete: a build that fails or is
    interrupted (full disk, Ctrl-C) leaves the previous site as it was, with no partial page and no temporary file.
    An unwritable ``--out`` is an error naming it.
    """
    tables: list[TaskTable] = build_tables(load_rows(sources), published_dir)
    out_dir = Path(os.path.realpath(out_dir))  # "." has no name to put a folder beside; a link: swap where it points
    if not out_dir.name:
        raise OnkobenchError(f"{out_dir}: choose a folder of its own for the site (--out)")
    building = out_dir.with_name(f".{out_dir.name}.building-{os.getpid()}")
    try:
        _check_replaceable(out_dir)
        try:
            shutil.rmtree(building, ignore_errors=True)
            building.mkdir(parents=True)
            _write_site(tables, building)
            _swap_in(building, out_dir)
        finally:
            shutil.rmtree(building, ignore_errors=True)  # gone already after a swap
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        raise OnkobenchError(f"{out_dir}: site not written: {err.strerror or err}{where}; "
                             "the previous site, if any, is unchanged") from None
    return out_dir / "index.html"
