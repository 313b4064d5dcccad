"""Reading the YAML files people write, with errors that name the file, field or line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import OnkobenchError


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
