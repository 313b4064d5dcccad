"""Suites: ``leaderboards/suites/*.yaml`` -> which tasks, variants and models run together."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from harness.config.io import REPO_ROOT, named_file, read_yaml_mapping, validated

SUITES_DIR = REPO_ROOT / "leaderboards" / "suites"


class SuiteTask(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="after")
    def _synthetic_needs_data(self) -> "SuiteTask":
        if self.synthetic and self.data is None:
            raise ValueError("synthetic: true describes the entry's own data file; give data: too (a task's "
                             "own data set is marked in the task)")
        return self

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
    synthetic: bool = False
    """That local ``data`` is synthetic (e.g. the demo snippets in place of a private set): its results are marked
    so and shown with the synthetic tables, never ranked with real data."""
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
