"""Runners by name; each module is imported only when its runner is used (heavy imports stay inside)."""

from __future__ import annotations

from pathlib import Path

from harness.models import ModelConfig
from harness.registry import Registry
from harness.runners.base import Runner

RUNNERS: Registry[type] = Registry("runner")
RUNNERS.add("baseline", "harness.runners.baseline:BaselineRunner")
RUNNERS.add("transformers", "harness.runners.transformers:TransformersRunner")


def create_runner(config: ModelConfig, config_dir: Path) -> Runner:
    """Build the runner a model config names; ``config_dir`` anchors relative paths in its options."""
    return RUNNERS.get(config.runner)(config, config_dir)
