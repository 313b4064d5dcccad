from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from fake_runner import ScriptedRunner

from harness.data import load_task_data
from harness.pipeline.run import run_task_variant
from harness.config.models import ModelConfig
from harness.report.site import build_site
from harness.config.tasks import load_task_file


class TableParser(HTMLParser):
    """Collects tables (rows of cell texts), script tags and every src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.scripts: list[dict] = []
        self.links: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs_d = dict(attrs)
        if tag == "script":
            self.scripts.append(attrs_d)
        for key in ("src", "href"):
            if attrs_d.get(key):
                self.links.append(attrs_d[key])
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> TableParser:
    parser = TableParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def make_runs(task_file: Path, out: Path) -> None:
    from harness.pipeline.spec import RunSpec

    task = load_task_file(task_file)
    data = load_task_data(task)
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    for name, answers in {
        "good": {"a": "C61", "b": "C67.2", "c": "C34.1", "d": "C90.00", "e": "C50.9"},
        "half": {"a": "C61", "b": "C67.9", "c": evil, "d": "C90.00", "e": "C50.1"},
        "bad": {"a": evil, "b": "", "c": "C80", "d": "x", "e": "y"},
    }.items():
        config = ModelConfig(name=name, runner="baseline", display_name=f"Model <b>{name}</b>")
        run_task_variant(RunSpec(task, task.variant("zero"), config, data), out, lambda a=answers: ScriptedRunner(a),
                         progress=False)


def test_index_ranks_and_escapes(mini_task_file: Path, tmp_path: Path) -> None:
    make_runs(mini_task_file, tmp_path / "runs")
    index = build_site([tmp_path / "runs"], tmp_path / "site")
    (task_page,) = (tmp_path / "site" / "tasks").glob("*.html")  # the per-task table is on its task page
    for path in (index, task_page):
        page = parse(path)
        header, *rows = page.tables[0]  # the index: the overview; the task page: the task's table
        assert header[:2] == ["Rank", "Model"]
        assert [r[1] for r in rows] == ["Model <b>good</b>", "Model <b>half</b>", "Model <b>bad</b>"]  # shown as text
        # 5/5 [0.57, 1], 3/5 [0.23, 0.88], 0/5 [0, 0.43]: only "good" lies entirely above "bad"
        assert [r[0] for r in rows] == ["1", "1", "2"]
        assert all(not link.startswith(("http:", "https:", "//")) for link in page.links)
        html = path.read_text(encoding="utf-8")
        assert "<b>good</b>" not in html and "&lt;b&gt;good&lt;/b&gt;" in html
    assert parse(task_page).tables[0][0][:4] == ["Rank", "Model", "Variant", "accuracy"]


def test_run_page_escapes_model_output(mini_task_file: Path, tmp_path: Path) -> None:
    make_runs(mini_task_file, tmp_path / "runs")
    build_site([tmp_path / "runs"], tmp_path / "site")
    page_path = tmp_path / "site" / "runs" / "mini.coding--zero--bad.html"
    page = parse(page_path)
    assert all(s.get("src", "").endswith("table.js") for s in page.scripts)  # no injected script element
    html = page_path.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'onerror="alert(2)"' not in html
    samples = page.tables[-1]
    assert len(samples) == 6  # header + 5 samples


def test_site_is_reproducible(mini_task_file: Path, tmp_path: Path) -> None:
    make_runs(mini_task_file, tmp_path / "runs")
    build_site([tmp_path / "runs"], tmp_path / "a")
    build_site([tmp_path / "runs"], tmp_path / "b")
    for page in (tmp_path / "a").rglob("*.html"):
        assert page.read_bytes() == (tmp_path / "b" / page.relative_to(tmp_path / "a")).read_bytes()


def test_published_rows_beside_same_data_only(mini_task_file: Path, tmp_path: Path) -> None:
    import json

    from harness.report.pages import build_tables

    make_runs(mini_task_file, tmp_path / "runs")
    published = tmp_path / "published"
    published.mkdir()
    (published / "ref.yaml").write_text(
        "source: a study\ndataset: /somewhere/else\nrows:\n"
        "  - {task: mini.coding, metric: accuracy, model: Paper model, value: 0.5}\n"
        "  - {task: mini.coding, metric: partial_accuracy, model: Other metric, value: 0.9}\n",
        encoding="utf-8",
    )
    (table,) = build_tables(sorted((tmp_path / "runs").iterdir()), published)
    assert [(p.model, p.same_data) for p in table.published] == [("Paper model", False)]
    summary = json.loads((tmp_path / "runs" / "mini.coding--zero--good" / "summary.json").read_text(encoding="utf-8"))
    (published / "ref.yaml").write_text(
        f"source: a study\ndataset: {summary['dataset']['source']}\nrows:\n"
        "  - {task: mini.coding, metric: accuracy, model: Paper model, value: 0.5}\n",
        encoding="utf-8",
    )
    (table,) = build_tables(sorted((tmp_path / "runs").iterdir()), published)
    assert [(p.model, p.same_data) for p in table.published] == [("Paper model", True)]
    build_site([tmp_path / "runs"], tmp_path / "site", published)
    (task_page,) = (tmp_path / "site" / "tasks").glob("*.html")
    rows = parse(task_page).tables[0][1:]
    assert rows[-1][1].startswith("Paper model") and "published" in rows[-1][1] and rows[-1][0] == "–"


def test_draw_spread_and_reasoning_overhead(mini_task_file: Path, tmp_path: Path) -> None:
    from harness.pipeline.spec import RunSpec
    from harness.report.pages import build_tables

    text = mini_task_file.read_text(encoding="utf-8").replace("k: 2}", "k: 2, sampler: random, seed: 5, draws: 3}")
    mini_task_file.write_text(text, encoding="utf-8")
    task = load_task_file(mini_task_file)
    assert [v for v in task.variants if v.startswith("two-shot")] == ["two-shot@0", "two-shot@1", "two-shot@2"]
    assert task.expand_variant("two-shot") == ["two-shot@0", "two-shot@1", "two-shot@2"]
    data = load_task_data(task)
    answers = [{"a": "C61"}, {"a": "C61", "b": "C67.2"}, {"a": "C61", "b": "C67.2", "c": "C34.1"}]
    for i, given in enumerate(answers):
        config = ModelConfig(name="m", runner="baseline")
        spec = RunSpec(task, task.variant(f"two-shot@{i}"), config, data)
        run_task_variant(spec, tmp_path / "runs", lambda g=given: ScriptedRunner(g), progress=False)
    for reasoning, delay in ((True, 0.02), (False, 0.005)):
        config = ModelConfig.model_validate({"name": f"r-{reasoning}", "runner": "transformers", "model_id": "x/y",
                                             "revision": "r", "reasoning": reasoning})
        spec = RunSpec(task, task.variant("zero"), config, data)
        run_task_variant(spec, tmp_path / "runs", lambda d=delay: ScriptedRunner({"a": "C61"}, delay_s=d), progress=False)
    (table,) = build_tables(sorted((tmp_path / "runs").iterdir()))
    (spread,) = table.draw_spreads
    assert (spread.variant, spread.n, spread.min, spread.max) == ("two-shot", 3, 0.2, 0.6)
    on = next(r for r in table.rows if r.model_name == "r-True")
    assert table.reasoning_overhead(on)["time"] == pytest.approx(4.0, rel=0.01)  # 0.02 s vs 0.005 s per item


def test_a_value_without_interval_says_so() -> None:
    """The study's 0.0 for an undefined precision has no interval (n = 0): shown as "CI n/a", not "[––]"."""
    from harness.report.site import _environment

    macros = _environment().get_template("_macros.html").module
    assert str(macros.estimate({"value": 0.0, "lo": None, "hi": None})).endswith("[CI n/a]</span>")
    assert "(95% CI n/a)" in str(macros.ci_bar({"value": 0.0, "lo": None, "hi": None}))
    assert str(macros.estimate({"value": 0.5, "lo": 0.25, "hi": 0.75})) == '50.0<span class="ci-text"> [25.0–75.0]</span>'
