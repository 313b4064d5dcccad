"""A scripted runner for tests: answers from a table, optionally slowly or failing after N answers."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from harness.records import Request, Response


class ScriptedRunner:
    def __init__(self, answers: dict[str, str], delay_s: float = 0.0, fail_after: int | None = None) -> None:
        self.answers = answers
        self.delay_s = delay_s
        self.fail_after = fail_after
        self.seen: list[str] = []

    def describe(self) -> dict[str, Any]:
        return {"engine": "scripted"}

    def close(self) -> None:
        pass

    def generate(self, requests: Sequence[Request]) -> Iterator[Response]:
        for request in requests:
            if self.fail_after is not None and len(self.seen) >= self.fail_after:
                raise RuntimeError("simulated crash")
            time.sleep(self.delay_s)
            self.seen.append(request.sample_id)
            yield Response(key=request.key, text=self.answers.get(request.sample_id, ""), latency_s=self.delay_s, n_batch=1)
