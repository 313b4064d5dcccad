"""The runner protocol: chat requests in, one Response per request out; the class carries the runner's facts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from harness.errors import OnkobenchError
from harness.records import Request, Response

if TYPE_CHECKING:
    from harness.config.models import ModelConfig


class Runner(Protocol):
    """What every runner does, and what its class says about it without being built.

    Runner classes subclass this protocol to inherit the defaults of the facts below; the pipeline and the
    config read them through the registry (harness.runner_registry), so adding a runner touches its own
    module and one registry line.
    """

    uses_prompt: ClassVar[bool] = True
    """False for a runner that never reads the prompt: every variant gets the same answers, so one is run."""
    needs_model: ClassVar[bool] = True
    """The config must name weights (model_id or wheel_file)."""
    loads_weights: ClassVar[bool] = False
    """Loads the weights itself: a hub model's config must pin the revision it was evaluated at."""
    engine_packages: ClassVar[tuple[str, ...]] = ()
    """Distributions whose installed versions are part of every request key (a new engine version reruns)."""
    reads_training_split: ClassVar[bool] = False
    """Learns from the task's training split (``dataset.train``) at run time: its path goes with each request and
    its content hash into the request key, so a rebuilt split reruns."""
    file_options: ClassVar[tuple[str, ...]] = ()
    """Options that name a file (relative to the config): its content is part of every request key and the config hash."""

    @classmethod
    def check_config(cls, config: ModelConfig) -> None:
        """Refuse a config this runner cannot run; a ValueError here is a validation error of the config file."""
        if cls.needs_model and config.model_id is None and config.wheel_file is None:
            raise ValueError(f"runner {config.runner!r} needs model_id or wheel_file")

    @classmethod
    def check_task(cls, config: ModelConfig, answer_kind: str, task_name: str) -> None:
        """Refuse, while planning (before any request), a task this runner cannot answer (OnkobenchError)."""

    @classmethod
    def engine_key(cls, config: ModelConfig) -> str | None:
        """Configs with the same key can share one loaded engine; None: never shared."""
        return None

    @classmethod
    def engine_version(cls) -> str:
        """Installed versions of ``engine_packages`` (package metadata only: nothing is imported)."""
        from importlib import metadata

        versions = []
        for package in cls.engine_packages:
            try:
                versions.append(f"{package}=={metadata.version(package)}")
            except metadata.PackageNotFoundError:
                continue
        return ";".join(versions)

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
