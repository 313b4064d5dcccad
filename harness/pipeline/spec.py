"""One run, resolved once: the task, its variant, the model and the data it runs on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config.models import ModelConfig
from harness.config.tasks import Task, Variant
from harness.data import TaskData


def run_id_for(task: str, variant: str, model: str, chain_tag: str | None = None) -> str:
    base = f"{task}--{variant}--{model}"
    return f"{base}--from-{chain_tag}" if chain_tag else base


@dataclass(frozen=True, eq=False)
class RunSpec:
    """Everything a run reads, resolved when the plan is expanded; the stages after it look nothing up by name."""

    task: Task
    variant: Variant
    model: ModelConfig
    data: TaskData
    """The samples of this run: for a chained step, built from its chain source (``data.chain``)."""
    config_dir: Path | None = None
    """The model config file's folder, where relative paths in its options start (None: a config built in code)."""
    prompts_dir: Path | None = None
    """The prompt pack the task was loaded with; its templates come before the task folder's."""

    @property
    def chain_tag(self) -> str | None:
        """Which previous run (or ``gold``) a chained step builds on; part of the run id."""
        return self.data.chain["tag"] if self.data.chain else None

    @property
    def run_id(self) -> str:
        return run_id_for(self.task.name, self.variant.name, self.model.name, self.chain_tag)
