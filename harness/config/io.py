"""Reading the files people write: YAML with errors that name the file, field or line; paths confined to
allowed folders; the checkout's and the cache's well-known folders; names resolved to files.

Paths named inside config and task files stay inside allowed folders (no ``../../etc/passwd``).
Allowed: the folder of the file that names the path, this checkout, onkobench's cache, and the folders
listed in ``$ONKOBENCH_ALLOWED_PATHS`` (separated like PATH). Paths given on the command line are the
user's own choice and are not confined. Where a field says so (an adapter's ``path``), ``cache:<path>`` names
a path inside onkobench's cache, and must stay inside it.
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
CACHE_PREFIX = "cache:"
"""A path written ``cache:adapters/x`` lies in ``cache_dir()`` (what a recipe trained there), wherever that is."""


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


MAX_YAML_BYTES = 4 * 1024 * 1024
"""No config, suite, task or prompt pack comes near this (the largest shipped one has 3 kB)."""
MAX_YAML_SIZE = 4 * MAX_YAML_BYTES
"""Bound on a document with every alias expanded, counted as nodes plus scalar characters: what the loaded
data costs once validated or dumped (a YAML alias is a reference; pydantic and JSON copy it). An alias bomb
(each level ten aliases of the one before) is refused before anything is built."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def expanded_size(root: yaml.Node, limit: int) -> int | None:
    """Size of ``root`` with every alias expanded (nodes plus scalar characters), or None for a recursive alias.

    Each distinct node is measured once (iteratively, so depth costs no stack): a bomb takes the time of its text.
    Sizes stop growing past ``limit``.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            own = len(node.value) if isinstance(node, yaml.ScalarNode) else sum(sizes[id(c)] for c in _children(node))
            sizes[key] = min(limit + 1, 1 + own)
        elif key not in sizes:
            if key in on_path:
                return None  # a node inside itself
            on_path.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    return sizes[id(root)]


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it (its wheels do): it refuses nesting deeper than 1000 at once, where
the pure-Python scanner spends minutes on a long line of unclosed brackets before the recursion limit stops it."""


def _load_bounded(text: str, path: Path) -> Any:
    """``yaml.safe_load`` that measures the composed document before building it."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = expanded_size(node, MAX_YAML_SIZE)
        if size is None:
            raise OnkobenchError(f"{path}: invalid YAML: an alias refers to the node that contains it")
        if size > MAX_YAML_SIZE:
            raise OnkobenchError(f"{path}: YAML too large with its aliases expanded (over {MAX_YAML_SIZE:,} nodes and "
                                 "characters); write the repeated parts out or use fewer nested aliases")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path) -> Any:
    """A YAML file's data; an error (one line naming the file) for a missing, oversized, non-UTF-8 or invalid file,
    and for a document that would grow too large with its aliases expanded."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_YAML_BYTES + 1)  # never more than the bound, whatever the file is
    except FileNotFoundError:
        raise OnkobenchError(f"{path}: file not found") from None
    except OSError as err:
        raise OnkobenchError(f"{path}: cannot read ({err.strerror})") from None
    if len(data) > MAX_YAML_BYTES:
        raise OnkobenchError(f"{path}: over {MAX_YAML_BYTES:,} bytes; not a config, suite, task or prompt file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise OnkobenchError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        return _load_bounded(text, path)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise OnkobenchError(f"{path}:{where}: invalid YAML: {getattr(err, 'problem', err)}") from None
    except RecursionError:
        raise OnkobenchError(f"{path}: invalid YAML: nested too deeply") from None


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


def cache_path(value: str, what: str) -> Path:
    """``value`` (the part after ``cache:``) resolved in ``cache_dir()``; an error when it is absolute or leaves
    the cache (symlinks followed), which ``$ONKOBENCH_ALLOWED_PATHS`` does not change."""
    root = cache_dir().expanduser().resolve()
    resolved = (root / value).resolve()
    if Path(value).is_absolute() or not resolved.is_relative_to(root) or resolved == root:
        raise OnkobenchError(f"{what}: {CACHE_PREFIX + value!r} must name a path inside onkobench's cache ({root})")
    return resolved
