from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from support.files import FIXTURES


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")
    parser.addoption("--rungpu", action="store_true", default=False, help="also run tests marked gpu")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = config.getoption("--runslow") or os.environ.get("ONKOBENCH_RUN_SLOW") == "1"
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: pass --runslow (as .ci/run does)"))
        if "gpu" in item.keywords and not config.getoption("--rungpu"):
            item.add_marker(pytest.mark.skip(reason="gpu: pass --rungpu on a lent GPU"))


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    # tests never reach the Hugging Face hub; without this a missing dataset costs a minute of retries
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture
def mini_tasks(tmp_path: Path) -> Path:
    """A copy of the hand-written fixture task family, safe to edit in a test."""
    target = tmp_path / "tasks"
    shutil.copytree(FIXTURES / "tasks", target)
    return target


@pytest.fixture
def mini_task_file(mini_tasks: Path) -> Path:
    return mini_tasks / "mini" / "coding.yaml"

