"""Paths named inside config and task files stay inside allowed folders (no ``../../etc/passwd``).

Allowed: the folder of the file that names the path, this checkout, onkobench's cache, and the folders
listed in ``$ONKOBENCH_ALLOWED_PATHS`` (separated like PATH). Paths given on the command line are the
user's own choice and are not confined.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import OnkobenchError

ALLOWED_ENV = "ONKOBENCH_ALLOWED_PATHS"
REPO_ROOT = Path(__file__).resolve().parents[1]


def allowed_roots(base: Path) -> list[Path]:
    from harness.weights import cache_dir

    roots = [base, REPO_ROOT, cache_dir()]
    roots += [Path(p).expanduser() for p in os.environ.get(ALLOWED_ENV, "").split(os.pathsep) if p.strip()]
    return [root.resolve() for root in roots]


def confined_path(base: Path, value: str, what: str) -> Path:
    """``value`` resolved against ``base`` (symlinks followed); an error when it leaves the allowed folders."""
    path = Path(value).expanduser()
    resolved = (path if path.is_absolute() else base / path).resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in allowed_roots(base)):
        raise OnkobenchError(f"{what}: {value!r} lies outside the allowed folders (add it to ${ALLOWED_ENV} if intended)")
    return resolved
