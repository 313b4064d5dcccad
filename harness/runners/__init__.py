"""Runners by name; each module is imported only when its runner is used (heavy imports stay inside)."""

from __future__ import annotations

from pathlib import Path

from harness.config.models import ModelConfig
from harness.registry import Registry
from harness.runners.base import Runner

RUNNERS: Registry[type] = Registry("runner")
RUNNERS.add("baseline", "harness.runners.baseline:BaselineRunner")
RUNNERS.add("transformers", "harness.runners.transformers:TransformersRunner")
RUNNERS.add("vllm", "harness.runners.vllm:VLLMRunner")
RUNNERS.add("openai", "harness.runners.openai:OpenAIRunner")


def create_runner(config: ModelConfig, config_dir: Path, peers: tuple[ModelConfig, ...] = ()) -> Runner:
    """Build the runner a model config names; ``config_dir`` anchors relative paths in its options.

    ``peers``: other configs that will share this engine (their LoRA adapters are loaded with it).
    """
    cls = RUNNERS.get(config.runner)
    return cls(config, config_dir, peers=peers) if peers else cls(config, config_dir)
