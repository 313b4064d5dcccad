"""The runners a model config may name: name -> lazy ``module:Class`` (see harness.runners.base.Runner).

This table sits below the config layer: a ModelConfig checks its ``runner`` here and asks the runner class for
its facts (prompt use, engine packages, engine sharing), while the runner modules import ModelConfig. Importing
a runner class is cheap: each runner loads its engine (torch, vLLM, transformers, httpx) inside its methods.
A family may register a runner of its own here.
"""

from __future__ import annotations

from harness.registry import Registry

RUNNERS: Registry[type] = Registry("runner")
RUNNERS.add("baseline", "harness.runners.baseline:BaselineRunner")
RUNNERS.add("external", "harness.runners.external:ExternalRunner")
RUNNERS.add("transformers", "harness.runners.transformers:TransformersRunner")
RUNNERS.add("vllm", "harness.runners.vllm:VLLMRunner")
RUNNERS.add("openai", "harness.runners.openai:OpenAIRunner")
