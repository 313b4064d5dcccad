"""Reading the files people write: YAML with errors that name the file, field or line; paths confined to
allowed folders; the checkout's and the cache's well-known folders; names resolved to files.

Paths named inside config and task files stay inside allowed folders (no ``../../etc/passwd``).
Allowed: the folder of the file that names the path, this checkout, onkobench's cache, and the folders
listed in ``$ONKOBENCH_ALLOWED_PATHS`` (separated like PATH). Paths given on the command line are the
user's own choice and are not confined.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import OnkobenchError

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout (or installed tree) this package lives in."""
ALLOWED_ENV = "ONKOBENCH_ALLOWED_PATHS"
CACHE_ENV = "ONKOBENCH_CACHE"


def cache_dir() -> Path:
    """``$ONKOBENCH_CACHE`` or ``~/.cache/onkobench``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "onkobench")


def error_lines(err: ValidationError, where: str) -> list[str]:
    """One line per problem: ``file: field.path: message``."""
    return [f"{where}: {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in err.errors()]


def validated(model: type[BaseModel], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        lines = error_lines(err, where)
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        raise OnkobenchError(lines[0] + more) from err


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OnkobenchError(f"{path}: file not found") from None
    except UnicodeDecodeError as err:
        raise OnkobenchError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise OnkobenchError(f"{path}:{where}: invalid YAML: {getattr(err, 'problem', err)}") from None


def read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping (a config, suite or task file)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise OnkobenchError(f"{path}: {what} must be a YAML mapping")
    return data


def did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def named_file(name_or_path: str, folder: Path, kind: str, hint: str = "") -> Path:
    """A ``.yaml`` path as given, or ``<folder>/<name>.yaml``; an unknown name lists the known ones with a
    did-you-mean. ``kind`` names what is looked up (model, suite), ``hint`` says where else to look."""
    if name_or_path.endswith((".yaml", ".yml")):
        return Path(name_or_path)
    path = folder / f"{name_or_path}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise OnkobenchError(
            f"unknown {kind} {name_or_path!r}{did_you_mean(name_or_path, known)} (known: {', '.join(known)}{hint})"
        )
    return path


def allowed_roots(base: Path) -> list[Path]:
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
