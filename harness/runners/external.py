"""The pseudo-runner of outputs produced elsewhere: ``onkobench score`` reads them from a file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.config.models import ModelConfig
from harness.errors import OnkobenchError
from harness.records import Request, Response
from harness.runners.base import Runner


class ExternalRunner(Runner):
    """Outputs produced elsewhere, scored from a file (onkobench score --outputs); generates nothing."""

    uses_prompt = False
    needs_model = False

    def __init__(self, config: ModelConfig, config_dir: Path) -> None:
        self.config = config

    @classmethod
    def check_task(cls, config: ModelConfig, answer_kind: str, task_name: str) -> None:
        # refused while planning, so `onkobench run` leaves no run folder behind
        raise OnkobenchError(f"model {config.name}: runner 'external' cannot run {task_name}; "
                             "score its outputs file with onkobench score --outputs")

    def generate(self, requests: Sequence[Request]) -> Iterator[Response]:
        raise OnkobenchError(f"model {self.config.name}: runner 'external' generates nothing; "
                             "score its outputs file with onkobench score --outputs")

    def describe(self) -> dict[str, Any]:
        return {"engine": "external"}

    def close(self) -> None:
        pass
