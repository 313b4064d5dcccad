"""Prompt packs: a folder of ``<task>.yaml`` files whose variants replace a task's prompt turns.

``--prompts DIR`` applies a pack: template files in DIR shadow the task's own, and a variant listed in
``DIR/<task>.yaml`` gets that file's turns (the task keeps its data, parser, queries and metrics).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.config.io import read_yaml, validated
from harness.errors import OnkobenchError
from harness.config.tasks import Task, Turn, Variant


class PackVariant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    turns: tuple[Turn, ...]


class PackFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: dict[str, Any] = {}
    variants: dict[str, PackVariant]
    notes: dict[str, str] = {}
    """Variants the pack leaves out, with the reason."""


def pack_file(prompts_dir: Path, task_name: str) -> Path:
    return prompts_dir / f"{task_name}.yaml"


def apply_prompt_pack(task: Task, prompts_dir: Path | None) -> Task:
    """The task with the pack's variants swapped in (unchanged when the pack has no file for it)."""
    if prompts_dir is None:
        return task
    path = pack_file(prompts_dir, task.name)
    if not path.exists():
        return task
    pack: PackFile = validated(PackFile, read_yaml(path), str(path))
    variants = dict(task.variants)
    for name, spec in pack.variants.items():
        if any(turn.shots is not None for turn in spec.turns):
            raise OnkobenchError(f"{path}: variant {name}: a pack writes examples out as turns, not as a shots block")
        base = variants.get(name)
        if base is None:
            variants[name] = Variant(name=name, description=spec.description, turns=spec.turns)
        else:
            # wording from the pack, protocol (queries, parser, skip rules) from the task
            variants[name] = base.model_copy(
                update={"turns": spec.turns, "shots": None, "description": spec.description or base.description}
            )
    return task.model_copy(update={"variants": variants})
