"""LoRA adapter folders: their content hash, and the folder a model config names, checked against that hash.

The content hash of a folder (``folder_sha256``) is the sha256 of a text with one line per regular file in the
folder and its subfolders, ``<sha256 of the file's bytes>  <path relative to the folder, with />`` and a newline,
lines sorted by the path (by code point). Names and bytes count, timestamps and permissions do not, so a copy of
the folder elsewhere has the same hash. The same number comes from the shell::

    cd ADAPTER && find . -type f -printf '%P\\n' | LC_ALL=C sort | while read -r f; do sha256sum "$f"; done | sha256sum

A symbolic link inside the folder is refused rather than followed: what it points at could change while the
folder, and so its hash, stayed the same.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import OnkobenchError

if TYPE_CHECKING:
    from harness.config.models import ModelConfig


def folder_files(folder: Path) -> list[tuple[str, Path]]:
    """``(relative posix path, path)`` of every regular file below ``folder``, sorted by the relative path."""
    if not folder.is_dir():
        raise OnkobenchError(f"{folder}: adapter folder not found")
    files = []
    for root, dirs, names in os.walk(folder):
        for name in sorted(dirs + names):
            path = Path(root) / name
            if path.is_symlink():
                raise OnkobenchError(f"{path}: symbolic link in an adapter folder; copy the file in instead")
        for name in names:
            path = Path(root) / name
            files.append((path.relative_to(folder).as_posix(), path))
    return sorted(files)


def folder_sha256(folder: Path) -> str:
    """The content hash of ``folder`` (the module docstring says how it is made)."""
    lines = []
    for relative, path in folder_files(folder):
        with path.open("rb") as handle:
            lines.append(f"{hashlib.file_digest(handle, 'sha256').hexdigest()}  {relative}\n")
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def adapter_folder(config: ModelConfig, config_dir: Path) -> Path:
    """The local folder of ``config``'s adapter (``path``, or ``cache:`` + a path in onkobench's cache), confined
    to the allowed folders; when the config gives ``sha256``, the folder's content hash must equal it."""
    from harness.config.io import CACHE_PREFIX, cache_path
    from harness.runners.base import resolve_config_path

    adapter = config.adapter
    assert adapter is not None and adapter.path is not None
    where = f"model {config.name}: adapter {adapter.name}: path"
    if adapter.path.startswith(CACHE_PREFIX):
        folder = cache_path(adapter.path.removeprefix(CACHE_PREFIX), where)
        if not folder.exists():
            raise OnkobenchError(f"{where}: {folder} not found (train it first; see recipes/README.md)")
    else:
        folder = resolve_config_path(config_dir, adapter.path, where)
    if adapter.sha256 is not None:
        found = folder_sha256(folder)
        if found != adapter.sha256:
            raise OnkobenchError(
                f"model {config.name}: adapter {adapter.name}: the folder {folder} is not the adapter the config names "
                f"(sha256 expected {adapter.sha256}, found {found}); retrain or restore it, or update adapter.sha256"
            )
    return folder
