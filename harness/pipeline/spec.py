"""One run, resolved once: the task, its variant, the model and the data it runs on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.models import ModelConfig
from harness.config.prompt_packs import PromptPack
from harness.config.tasks import Task, Variant
from harness.data import TaskData
from harness.store import ShardRecord


def run_id_for(task: str, variant: str, model: str, chain_tag: str | None = None, pack_tag: str | None = None) -> str:
    """``task--variant--model[--from-<chain>][--prompts-<pack>]``: a run without a pack keeps the id it always had."""
    run_id = f"{task}--{variant}--{model}"
    if chain_tag:
        run_id += f"--from-{chain_tag}"
    if pack_tag:
        run_id += f"--prompts-{pack_tag}"
    return run_id


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
    prompt_pack: PromptPack | None = None
    """The prompt pack the task was loaded with; its templates come before the task folder's. Part of the run id."""
    variant_in_pack: bool = True
    """False when the pack has no wording for this variant, so the task's own turns are used (recorded in the run)."""
    shard: ShardRecord | None = None
    """Set for one shard of the run (``--shard i/n``): ``data`` is then the shard's part; the record names the whole."""

    @property
    def prompts_dir(self) -> Path | None:
        return self.prompt_pack.folder if self.prompt_pack else None

    @property
    def chain_tag(self) -> str | None:
        """Which previous run (or ``gold``) a chained step builds on; part of the run id."""
        return self.data.chain["tag"] if self.data.chain else None

    @property
    def prompt_pack_record(self) -> dict[str, Any] | None:
        """The pack as the manifest and summary record it (None: the task's own wording throughout)."""
        return self.prompt_pack.record(self.variant_in_pack) if self.prompt_pack else None

    @property
    def run_id(self) -> str:
        pack_tag = self.prompt_pack.tag if self.prompt_pack else None
        return run_id_for(self.task.name, self.variant.name, self.model.name, self.chain_tag, pack_tag)
