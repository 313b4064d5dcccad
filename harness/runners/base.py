"""The runner protocol: chat requests in, one Response per request out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

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
