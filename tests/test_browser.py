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
    rows = body_rows(page)
    assert [r[1].split()[1] for r in rows] == ["good", "half", "bad"]
    assert [r[0] for r in rows] == ["1", "1", "2"]  # tied ranks where intervals overlap
    assert page.locator("svg.ci").count() == 3 and page.locator("figure.pareto svg").count() == 1
    page.click("table.board.sortable thead th:nth-child(4)")  # accuracy, ascending
    assert [r[1].split()[1] for r in body_rows(page)] == ["bad", "half", "good"]
    page.click("table.board.sortable thead th:nth-child(4)")  # and descending
    assert [r[1].split()[1] for r in body_rows(page)] == ["good", "half", "bad"]
    page.fill("input.filter", "half")
    assert [r[1].split()[1] for r in body_rows(page)] == ["half"]
    page.fill("input.filter", "")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "index.png"), full_page=True)
    task_page = next((site / "tasks").glob("*.html"))
    page.goto(task_page.as_uri())
    page.wait_for_load_state("load")
    assert page.locator("table.matrix").count() == 1
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
    ranks = page.eval_on_selector_all("table.board.sortable tbody tr td:first-child", "cells => cells.map(c => c.innerText.trim())")
    assert len(ranks) >= 3 * 3 and len(set(ranks)) < len(ranks)  # ties where intervals overlap
    assert page.locator("svg.ci").count() == len(ranks) and page.locator("figure.pareto svg").count() == 3
    assert all(url.startswith("file://") for url in requests) and dialogs == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "demo-index.png"), full_page=True)
    task_page = next((site / "tasks").glob("demo.icd10gm_coding*.html"))
    page.goto(task_page.as_uri())
    page.wait_for_load_state("load")
    assert page.locator("table.matrix").count() == 1 and page.locator("table.gains").count() == 1
    page.screenshot(path=str(SHOTS / "demo-task.png"), full_page=True)
