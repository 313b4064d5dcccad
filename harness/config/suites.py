"""Suites: ``leaderboards/suites/*.yaml`` -> which tasks, variants and models run together."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from harness.config.io import REPO_ROOT, read_yaml, validated
from harness.errors import OnkobenchError

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
    path = Path(name_or_path)
    if not name_or_path.endswith((".yaml", ".yml")):
        path = (suites_dir or SUITES_DIR) / f"{name_or_path}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in (suites_dir or SUITES_DIR).glob("*.yaml"))
            raise OnkobenchError(f"unknown suite {name_or_path!r} (known: {', '.join(known)})")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise OnkobenchError(f"{path}: a suite must be a YAML mapping")
    return validated(Suite, data, str(path)), path
