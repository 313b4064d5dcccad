"""The built site in headless Chromium: tables render, sorting and filtering work, hostile model output
shows as text and runs nothing, and the pages make no network request. Screenshots go to test-artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.data import load_task_data
from harness.pipeline.run import run_task_variant
from harness.config.models import ModelConfig
from harness.report.site import build_site
from harness.config.tasks import load_task_file

from support.files import REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")
EVIL = '<script>window.__pwned = 1; alert(1)</script><img src=x onerror="window.__pwned = 2; alert(2)">'
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from fake_runner import ScriptedRunner

    from harness.pipeline.spec import RunSpec

    root = tmp_path_factory.mktemp("browser")
    task_file = REPO_ROOT / "tests" / "fixtures" / "tasks" / "mini" / "coding.yaml"
    task = load_task_file(task_file)
    data = load_task_data(task)
    for name, answers, delay in (
        ("good", {"a": "C61", "b": "C67.2", "c": "C34.1", "d": "C90.00", "e": "C50.9"}, 0.003),
        ("half", {"a": "C61", "b": "C67.9", "c": EVIL, "d": "C90.00", "e": "C50.1"}, 0.001),
        ("bad", {"a": EVIL, "b": "", "c": "C80", "d": "x", "e": "y"}, 0.002),
    ):
        config = ModelConfig(name=name, runner="baseline", display_name=f"Model {name} {EVIL if name == 'bad' else ''}")
        spec = RunSpec(task, task.variant("zero"), config, data)
        run_task_variant(spec, root / "runs", lambda a=answers, d=delay: ScriptedRunner(a, d), progress=False)
    build_site([root / "runs"], root / "site")
    return root / "site"


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield chromium
        chromium.close()


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, requests, dialogs


def body_rows(page) -> list[list[str]]:
    return page.eval_on_selector_all(
        "table.board.sortable tbody tr", "rows => rows.filter(r => r.style.display !== 'none').map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )


def test_index_sorts_filters_and_stays_offline(site: Path, browser) -> None:
    page, requests, dialogs = open_page(browser, site / "index.html")
    rows = body_rows(page)[:3]  # the overview (the list of task tables follows)
    assert [r[1].split()[1] for r in rows] == ["good", "half", "bad"]
    assert [r[0] for r in rows] == ["1", "1", "2"]  # tied ranks where intervals overlap
    task_page = next((site / "tasks").glob("*.html"))  # the task's own table, sorted and filtered
    page.goto(task_page.as_uri())
    page.wait_for_load_state("load")
    rows = body_rows(page)
    assert [r[1].split()[1] for r in rows] == ["good", "half", "bad"]
    assert page.locator("svg.ci").count() == 3 and page.locator("figure.pareto svg").count() == 1
    page.click("table.board.sortable thead th:nth-child(4)")  # accuracy, ascending
    assert [r[1].split()[1] for r in body_rows(page)] == ["bad", "half", "good"]
    page.click("table.board.sortable thead th:nth-child(4)")  # and descending
    assert [r[1].split()[1] for r in body_rows(page)] == ["good", "half", "bad"]
    page.fill("input.filter", "half")
    assert [r[1].split()[1] for r in body_rows(page)] == ["half"]
    page.fill("input.filter", "")
    assert page.locator("table.matrix").count() == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "task.png"), full_page=True)
    assert all(url.startswith("file://") for url in requests), requests
    assert dialogs == [] and page.evaluate("window.__pwned === undefined")


def test_hostile_output_is_text(site: Path, browser) -> None:
    for run_page in sorted((site / "runs").glob("*.html")):
        page, requests, dialogs = open_page(browser, run_page)
        assert dialogs == [] and page.evaluate("window.__pwned === undefined")
        assert page.locator("img[src='x']").count() == 0
        assert all(url.startswith("file://") for url in requests), requests
        if "--bad" in run_page.name or "--half" in run_page.name:
            assert "<script>window.__pwned = 1; alert(1)</script>" in page.inner_text("table.samples")
        page.close()
    model_page, _, dialogs = open_page(browser, site / "models" / "bad.html")
    assert "<script>" in model_page.inner_text("h1") and dialogs == []


def test_committed_demo_leaderboard(tmp_path: Path, browser) -> None:
    """The published demo results (3 models, baselines and SmolLM2): tied ranks, CI bars, Pareto charts."""
    results = REPO_ROOT / "leaderboards" / "results" / "demo"
    if not any(results.glob("*.json")):
        pytest.skip("no committed demo results")
    site = tmp_path / "site"
    build_site([results], site)
    page, requests, dialogs = open_page(browser, site / "index.html")
    assert page.locator("section.overview.synthetic").count() == 1  # the demo is synthetic: marked so
    ranks = page.eval_on_selector_all("table.overview tbody tr td:first-child", "cells => cells.map(c => c.innerText.trim())")
    assert len(ranks) == 3 and len(set(ranks)) < len(ranks)  # ties where the means' intervals overlap
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "demo-index.png"), full_page=True)
    task_page = next((site / "tasks").glob("demo.icd10gm_coding*.html"))
    page.goto(task_page.as_uri())
    page.wait_for_load_state("load")
    ranks = page.eval_on_selector_all("div.table-wrap > table.board.sortable tbody tr td:first-child",
                                      "cells => cells.map(c => c.innerText.trim())")
    assert len(ranks) >= 3 and len(set(ranks)) < len(ranks)
    assert page.locator("svg.ci").count() == len(ranks) and page.locator("figure.pareto svg").count() == 1
    assert page.locator("figure.pareto rect.ceiling").count() == 0  # no label-quality band on synthetic data
    assert page.locator("table.matrix").count() == 1 and page.locator("table.gains").count() == 1
    assert all(url.startswith("file://") for url in requests) and dialogs == []
    page.screenshot(path=str(SHOTS / "demo-task.png"), full_page=True)


@pytest.fixture(scope="module")
def leaderboard_site(tmp_path_factory) -> Path:
    """A protocol-B-like group (catalogue sets from the fixture catalogues, the committed lookup baseline and oracle,
    scripted models of each kind) and a synthetic group below it."""
    from support.files import CATALOGUE_FIXTURES
    from support.leaderboard import catalogue_runs, model, run_scripted, write_task

    root = tmp_path_factory.mktemp("overview")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONKOBENCH_CATALOGUE_DIR", str(CATALOGUE_FIXTURES))
        runs = catalogue_runs(root)
    demo = write_task(root / "tasks", "demo.coding", 20, synthetic=True)
    run_scripted(demo, runs, model("instruct-8b", params="8B"), 12)
    build_site([runs], root / "site")
    return root / "site"


def overview_rows(page, section: str) -> list[dict[str, str]]:
    """The visible rows of a group's overview: model, kind, rank and every cell's text by column header."""
    return page.eval_on_selector_all(
        f"section#{section} table.overview tbody tr",
        """rows => rows.filter(r => r.style.display !== 'none').map(r => {
             const heads = Array.from(r.closest('table').tHead.rows[0].cells).map(h => h.innerText.split('\\n')[0].replace(' ↗', '').trim());
             return Object.fromEntries(Array.from(r.cells).map((c, i) => [heads[i], c.innerText.trim()]));
           })""")


def test_overview_sorts_filters_by_kind_and_shows_ties(leaderboard_site: Path, browser) -> None:
    page, requests, dialogs = open_page(browser, leaderboard_site / "index.html")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)
    section = "overview--icd_catalogue_qa"
    rows = overview_rows(page, section)
    by_model = {r["Model"]: r for r in rows}
    assert set(by_model) == {"Catalogue oracle (exact; knows the answer key)", "Training-split lookup (fuzzy)",
                             "instruct-8b", "tuned-8b", "thinker-32b", "partial-1b"}
    assert by_model["instruct-8b"]["Rank"] == "1"
    assert by_model["tuned-8b"]["Rank"] == by_model["thinker-32b"]["Rank"]  # a tie: equal rank
    assert page.locator(f"section#{section} td.rank.tie").count() >= 2
    oracle = next(r for r in rows if r["Kind"] == "oracle")
    assert oracle["Rank"] == "ceiling"
    assert by_model["partial-1b"]["Rank"] == "–" and "1 of 3 tasks missing" in by_model["partial-1b"]["Mean over tasks"]
    # sort by a task column: descending on the second click, missing cells last
    header = page.locator(f"section#{section} table.overview thead th", has_text="icdo3_topography")
    header.click()
    header.click()
    values = [float(r["icdo3_topography"].split()[0]) for r in overview_rows(page, section)]
    assert values == sorted(values, reverse=True) and len(values) == 6
    page.locator(f"section#{section} table.overview thead th", has_text="Params").click()
    assert [r["Params"] for r in overview_rows(page, section)][-3:] == ["8B", "8B", "32B"]
    # filter by kind, then by text
    kinds = page.locator(f"section#{section} select.kind-filter")
    assert kinds.locator("option").all_inner_texts() == ["all kinds", "instruct", "fine-tuned", "reasoning", "baseline",
                                                         "oracle"]
    kinds.select_option("fine-tuned")
    assert [r["Model"] for r in overview_rows(page, section)] == ["tuned-8b"]
    kinds.select_option("instruct")
    assert sorted(r["Model"] for r in overview_rows(page, section)) == ["instruct-8b", "partial-1b"]
    page.fill(f"section#{section} input.filter", "partial")
    assert [r["Model"] for r in overview_rows(page, section)] == ["partial-1b"]
    kinds.select_option("")
    page.fill(f"section#{section} input.filter", "")
    assert len(overview_rows(page, section)) == 6
    # the synthetic demo below the real data, marked
    real_y = page.locator(f"section#{section}").bounding_box()["y"]
    synthetic = page.locator("section.overview.synthetic")
    assert synthetic.bounding_box()["y"] > real_y and "synthetic data" in synthetic.locator("h2").inner_text()
    assert all(url.startswith("file://") for url in requests) and dialogs == []
