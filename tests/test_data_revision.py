"""The data set commit a run used, against the commit a task's published numbers come from (issue #15 C).

UroLlmEval's data set is loaded unpinned by the study; its hub page shows one commit, f7cb0da
(``reference_commit`` in tasks/urollmeval/_family.yaml). A copy known to be another commit, or a hub load whose
commit cannot be told, warns on stderr and is recorded in the run's manifest. The data here is onkobench's synthetic
demo data in the data set's layout, placed as the hub's cache places a download.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.config.tasks import load_task
from harness.data import commit_in_path, load_task_data
from harness.errors import DataRevisionWarning

from support.files import REPO_ROOT

DEMO_ROWS = REPO_ROOT / "tasks" / "demo" / "data" / "snippets.jsonl"
REFERENCE = "f7cb0da" + "1" * 33
OTHER = "0123456789abcdef0123456789abcdef01234567"
WARNING = ("stefan-m-lenz/UroLlmEvalSet: loaded commit 0123456789ab, not f7cb0da (the commit its published numbers "
           "come from); results may differ from them")


def hub_cache_copy(root: Path, commit: str) -> Path:
    """A copy where ``huggingface_hub`` keeps a download: ``datasets--owner--name/snapshots/<commit>/...``."""
    path = root / "datasets--stefan-m-lenz--UroLlmEvalSet" / "snapshots" / commit / "data" / "eval.jsonl"
    path.parent.mkdir(parents=True)
    shutil.copyfile(DEMO_ROWS, path)
    return path


def run_step1(data: Path, out: Path):
    result = CliRunner().invoke(main, ["run", "--task", "urollmeval.step1", "--variant", "0", "--model",
                                       "baseline-lexicon-exact", "--data", str(data), "--out", str(out), "--no-progress"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "urollmeval.step1--0--baseline-lexicon-exact" / "manifest.json").read_text(encoding="utf-8"))
    return result, manifest["dataset"]


def test_a_copy_of_another_commit_warns_and_is_recorded(tmp_path: Path) -> None:
    result, dataset = run_step1(hub_cache_copy(tmp_path / "hub", OTHER), tmp_path / "runs")
    assert result.stderr.splitlines() == [f"warning: {WARNING}"]  # one line, no Python source location
    assert dataset["revision"] == OTHER and dataset["revision_warning"] == WARNING


def test_a_copy_of_the_reference_commit_is_recorded_without_a_warning(tmp_path: Path) -> None:
    result, dataset = run_step1(hub_cache_copy(tmp_path / "hub", REFERENCE), tmp_path / "runs")
    assert result.stderr == ""
    assert dataset["revision"] == REFERENCE and "revision_warning" not in dataset


def test_a_plain_copy_records_an_unknown_commit_without_a_warning(tmp_path: Path) -> None:
    result, dataset = run_step1(DEMO_ROWS, tmp_path / "runs")
    assert result.stderr == ""
    assert dataset["revision"] is None and "revision_warning" not in dataset


def test_a_suite_warns_once_for_its_three_steps(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--suite", "urollmeval-demo", "--data", str(hub_cache_copy(tmp_path, OTHER)),
                                       "--out", str(tmp_path / "runs"), "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if "loaded commit" in line] == [f"warning: {WARNING}"]
    chained = json.loads(next((tmp_path / "runs").glob("urollmeval.step3--*--from-0-uro.*/manifest.json")).read_text())
    assert chained["dataset"]["revision"] == OTHER  # a chained step keeps its base data's commit


class _HubDataset:
    """What ``datasets.load_dataset`` returns, as far as the loader reads it: rows and the prepared cache files."""

    def __init__(self, rows: list[dict], cache_files: list[dict]) -> None:
        self.rows, self.cache_files = rows, cache_files

    def __iter__(self):
        return iter(self.rows)


@pytest.mark.parametrize(("cache_files", "warning"), [
    ([{"filename": f"/cache/stefan-m-lenz___uro_llm_eval_set/default/0.0.0/{REFERENCE}/uro_llm_eval_set-eval.arrow"}], None),
    ([{"filename": f"/cache/stefan-m-lenz___uro_llm_eval_set/default/0.0.0/{OTHER}/uro_llm_eval_set-eval.arrow"}],
     "loaded commit 0123456789ab, not f7cb0da"),
    ([], "cannot tell which commit revision main loaded; the commit its published numbers come from is f7cb0da"),
])
def test_a_hub_load_is_checked_against_the_reference_commit(monkeypatch: pytest.MonkeyPatch, cache_files: list[dict],
                                                           warning: str | None) -> None:
    import datasets

    rows = [json.loads(line) for line in DEMO_ROWS.read_text(encoding="utf-8").splitlines()]
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: _HubDataset(rows, cache_files))
    task = load_task("urollmeval.step1")
    if warning is None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error", DataRevisionWarning)
            data = load_task_data(task)
        assert data.revision == REFERENCE and data.revision_warning is None
    else:
        with pytest.warns(DataRevisionWarning, match=warning):
            data = load_task_data(task)
        assert warning in data.revision_warning
    assert data.source == "hf://stefan-m-lenz/UroLlmEvalSet@main/eval" and len(data.samples) == len(rows)


def test_tasks_without_a_reference_commit_warn_about_nothing(tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", DataRevisionWarning)
        data = load_task_data(load_task("demo.tumour_detection"))
    assert data.revision is None and data.revision_warning is None


def test_the_commit_is_read_from_the_path_as_given() -> None:
    assert commit_in_path("/a/b/eval.jsonl") is None
    assert commit_in_path(f"/hub/snapshots/{OTHER}/data/eval.jsonl") == OTHER
    assert commit_in_path(f"/cache/x/default/0.0.0/{OTHER}/x-eval.arrow") == OTHER
