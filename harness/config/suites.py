"""Suites: ``leaderboards/suites/*.yaml`` -> which tasks, variants and models run together."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from harness.config.io import REPO_ROOT, named_file, read_yaml_mapping, validated

SUITES_DIR = REPO_ROOT / "leaderboards" / "suites"


class SuiteTask(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str
    variants: tuple[str, ...] | None = None
    """None means every variant of the task."""
    models: tuple[str, ...] | None = None
    """Models for this task only; None = the suite's (``--model`` replaces both)."""
    baselines: tuple[str, ...] = ()
    """Models always run on this task in addition (e.g. non-LLM baselines that answer just this kind)."""
    chain: tuple[str, ...] = ()
    """For a chained step: ``best``, ``own-best``, ``gold`` or run folders; one set of runs each."""
    data: str | None = None
    """A local copy of the dataset, relative to the suite file."""
    limit: int | None = None
    """Only the first N samples of this task (a quick sample of a large set)."""


class Suite(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    models: tuple[str, ...] = ()
    tasks: tuple[SuiteTask, ...]


def load_suite(name_or_path: str, suites_dir: Path | None = None) -> tuple[Suite, Path]:
    path = named_file(name_or_path, suites_dir or SUITES_DIR, "suite")
    return validated(Suite, read_yaml_mapping(path, "a suite"), str(path)), path
