"""The runner protocol: chat requests in, one Response per request out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from harness.errors import OnkobenchError

from harness.records import Request, Response


class Runner(Protocol):
    def generate(self, requests: Sequence[Request]) -> Iterator[Response]:
        """Yield one Response per request, in any order, as soon as each is done."""
        ...

    def describe(self) -> dict[str, Any]:
        """Engine name, version and device, recorded in the run manifest."""
        ...

    def close(self) -> None: ...


def missing_extra(extra: str, package: str) -> str:
    return f"this runner needs {package}: pip install 'onkobench[{extra}]' (install torch==2.13.0 first on CPU machines)"


def resolve_config_path(config_dir: Path, value: str, what: str) -> Path:
    """A path from a model config, relative to the config's folder; it must exist and stay inside the allowed folders."""
    from harness.config.io import confined_path

    path = confined_path(config_dir, value, what)
    if not path.exists():
        raise OnkobenchError(f"{what}: {path} not found")
    return path


def local_or_hub(config_dir: Path, model_id: str, what: str) -> str:
    """A local model folder (confined to the allowed folders) or else a hub id."""
    if (config_dir / model_id).exists() or Path(model_id).is_absolute() or model_id.startswith("."):
        return str(resolve_config_path(config_dir, model_id, what))
    return model_id
