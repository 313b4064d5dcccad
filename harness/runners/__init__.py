"""Runners by name; each module is imported only when its runner is used (heavy imports stay inside)."""

from __future__ import annotations

from pathlib import Path

from harness.config.models import ModelConfig
from harness.runner_registry import RUNNERS
from harness.runners.base import Runner

__all__ = ["RUNNERS", "Runner", "create_runner"]


def create_runner(config: ModelConfig, config_dir: Path, peers: tuple[ModelConfig, ...] = ()) -> Runner:
    """Build the runner a model config names; ``config_dir`` anchors relative paths in its options.

    ``peers``: other configs that will share this engine (their LoRA adapters are loaded with it).
    """
    cls = config.runner_class
    return cls(config, config_dir, peers=peers) if peers else cls(config, config_dir)
