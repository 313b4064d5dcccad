"""A suite entry that runs a task on a synthetic stand-in for its data set (``synthetic: true`` beside ``data:``):
the results say synthetic, and the site shows them with the synthetic tables, never ranked with real data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.config.suites import load_suite
from harness.errors import OnkobenchError
from harness.pipeline.plan import plan_runs
from harness.report.overview import build_overviews
from harness.report.pages import build_tables
from harness.config.io import REPO_ROOT

SNIPPETS = REPO_ROOT / "tasks" / "demo" / "data" / "snippets.jsonl"


def write_suite(folder: Path, *, synthetic: bool, data: bool = True) -> Path:
    path = folder / "ood.yaml"
    lines = ["name: ood", "models: [baseline-lexicon-exact]", "tasks:",
             "  - task: urollmeval.step2", "    variants: [0-uro]", "    chain: [gold]"]
    if data:
        lines.append(f"    data: {json.dumps(str(SNIPPETS))}")
    if synthetic:
        lines.append("    synthetic: true")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_synthetic_without_its_own_data_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = write_suite(tmp_path, synthetic=True, data=False)
    with pytest.raises(OnkobenchError, match=r"ood\.yaml.*synthetic: true describes the entry's own data file"):
        load_suite(str(path))


@pytest.mark.parametrize("synthetic", [True, False])
def test_the_planned_task_says_what_its_data_is(tmp_path: Path, synthetic: bool) -> None:
    [planned] = plan_runs(str(write_suite(tmp_path, synthetic=synthetic)), None, (), (), None)
    assert planned.task.dataset.synthetic is synthetic
    assert planned.task.dataset.private  # the task's private flag stays: it only ever adds checks


def test_data_given_on_the_command_line_is_not_marked_by_the_suite(tmp_path: Path) -> None:
    """The flag describes the suite's own file; --data replaces it with the user's, whose nature the suite cannot know."""
    [planned] = plan_runs(str(write_suite(tmp_path, synthetic=True)), None, (), (), SNIPPETS)
    assert not planned.task.dataset.synthetic


def test_results_on_synthetic_stand_in_data_go_to_the_synthetic_tables(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    for synthetic, folder in ((True, tmp_path / "s"), (False, tmp_path / "r")):
        folder.mkdir()
        result = CliRunner().invoke(main, ["run", "--suite", str(write_suite(folder, synthetic=synthetic)),
                                           "--out", str(out / folder.name), "--no-progress"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    [summary_s] = (out / "s").glob("*/summary.json")
    assert json.loads(summary_s.read_text(encoding="utf-8"))["dataset"]["synthetic"] is True
    groups = {(o.family, o.synthetic) for o in build_overviews(build_tables([out / "s"]))}
    assert groups == {("urollmeval", True)}
    groups = {(o.family, o.synthetic) for o in build_overviews(build_tables([out / "r"]))}
    assert groups == {("urollmeval", False)}


def test_shards_of_a_synthetic_entry_merge_into_a_synthetic_run(tmp_path: Path) -> None:
    """``onkobench merge`` rebuilds the whole run from the task by name: it must keep what the suite said of the data."""
    suite = str(write_suite(tmp_path, synthetic=True))
    shards = [tmp_path / "shards" / str(index) for index in (1, 2)]
    for index, out in enumerate(shards, start=1):
        result = CliRunner().invoke(main, ["run", "--suite", suite, "--shard", f"{index}/2", "--out", str(out),
                                           "--no-progress"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["merge", *map(str, shards), "--out", str(tmp_path / "merged")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [summary] = (tmp_path / "merged").glob("*/summary.json")
    assert json.loads(summary.read_text(encoding="utf-8"))["dataset"]["synthetic"] is True
