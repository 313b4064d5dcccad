"""Prompt packs: a folder of ``<task>.yaml`` files whose variants replace a task's prompt turns.

``--prompts DIR`` applies a pack: template files in DIR shadow the task's own, and a variant listed in
``DIR/<task>.yaml`` gets that file's turns (the task keeps its data, parser, queries and metrics). A run with a
pack records it (``PromptPack``: the folder's name and a hash of its content) in its run id, manifest and
summary; a variant the pack has no wording for keeps the task's own turns, and the run says so.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.config.io import read_yaml, validated
from harness.errors import OnkobenchError
from harness.config.tasks import Task, Turn, Variant
from harness.records import stable_hash


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


@dataclass(frozen=True)
class PromptPack:
    """A prompt pack as a run is identified by it: the folder, its name and a hash of everything in it."""

    folder: Path
    name: str
    """The folder's name."""
    content_hash: str
    """Hash of every file in the folder (path and bytes; hidden files such as its .gitignore left out)."""

    @property
    def tag(self) -> str:
        """The pack in a run id: its name (letters, digits, ``.``, ``_``, ``-``) and the hash's first 8 characters."""
        return f"{re.sub(r'[^A-Za-z0-9._-]+', '-', self.name).strip('-') or 'pack'}-{self.content_hash[:8]}"

    def record(self, variant_in_pack: bool) -> dict[str, Any]:
        """What a run's manifest and summary say about the pack (``variant_in_pack`` False: the task's own wording)."""
        return {"name": self.name, "hash": self.content_hash, "variant_in_pack": variant_in_pack}


def _pack_files(folder: Path) -> list[Path]:
    """The pack's files, hidden ones (and those in hidden folders) left out; linked folders are not entered."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        found.extend(Path(root) / name for name in files if not name.startswith("."))
    return sorted(path for path in found if path.is_file())


def load_prompt_pack(folder: Path) -> PromptPack:
    """The pack in ``folder``; its hash changes with any edit of a pack file or template in it."""
    if not folder.is_dir():
        raise OnkobenchError(f"{folder}: no prompt pack folder")
    files = {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest() for path in _pack_files(folder)}
    resolved = folder.resolve()
    return PromptPack(resolved, resolved.name, stable_hash(files, length=32))


def variants_not_in_pack(task: Task, prompts_dir: Path) -> dict[str, str]:
    """Variants of ``task`` the pack gives no wording for, each with the reason: the pack's note (why the importer
    left it out) or that the pack does not list it. These keep the task's own turns."""
    path = pack_file(prompts_dir, task.name)
    if not path.exists():
        return {name: f"the pack has no {path.name}" for name in task.variants}
    pack: PackFile = validated(PackFile, read_yaml(path), str(path))
    return {name: pack.notes.get(name, f"not in {path.name}") for name in task.variants if name not in pack.variants}


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
