"""Parsers: model text -> Parsed(value, status). They never raise on model output."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.registry import Registry

OK = "ok"
MALFORMED = "malformed"
EMPTY = "empty"
NO_THINK_END = "no_think_end"
ERROR = "error"
"""The runner gave up on the request (stored error); not the model's fault."""
MISSING = "missing"
"""No output for this sample at all (only in scoring of outputs produced elsewhere)."""
MALFORMED_STATUSES = frozenset({MALFORMED, EMPTY, NO_THINK_END})


@dataclass(frozen=True, slots=True)
class Parsed:
    value: Any
    status: str = OK
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK


Parser = Callable[[str], Parsed]
ParserFactory = Callable[..., Parser]
PARSERS: Registry[ParserFactory] = Registry("parser")


def _matching_bracket_span(text: str, start: int) -> str | None:
    depth = 0
    for index in range(start, len(text)):
        char = text[index]
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
    return None


def flatten(items: list[Any]) -> list[Any]:
    """The items of a list with every nested list replaced by its items, in order, at any depth."""
    flat: list[Any] = []
    stack = [iter(items)]
    # iterative, so a deeply nested model output cannot exhaust the recursion limit
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


@PARSERS.register("json_array")
def json_array_parser() -> Parser:
    """First JSON array in the text (bracket-matched, curly quotes U+201C/U+201D -> '"'), flattened.

    The clean rule; a study family may register its own array parser that follows the study code's quirks
    (no '[' at all, a '[' inside a string, a non-empty list of empty lists), as the urology family does.
    """

    def parse(text: str) -> Parsed:
        if not text.strip():
            return Parsed(None, EMPTY, "empty output")
        start = text.find("[")
        if start < 0:
            return Parsed(None, MALFORMED, "no '[' in output")
        span = _matching_bracket_span(text, start)
        if span is None:
            return Parsed(None, MALFORMED, "unbalanced brackets")
        # as the study's code does: only the English curly quotes are replaced, not the German U+201E
        span = span.replace("\u201c", '"').replace("\u201d", '"')
        try:
            value = json.loads(span)
        except (json.JSONDecodeError, RecursionError) as err:
            return Parsed(None, MALFORMED, f"invalid JSON array: {getattr(err, 'msg', 'too deeply nested')}")
        return Parsed(flatten(value))

    return parse


@PARSERS.register("code")
def code_parser(pattern: str, ignore_case: bool = True, upper: bool = True) -> Parser:
    """First match of a code regex (group 1 if present), upper-cased; none found = malformed."""
    regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)

    def parse(text: str) -> Parsed:
        if not text.strip():
            return Parsed(None, EMPTY, "empty output")
        match = regex.search(text)
        if match is None:
            return Parsed(None, MALFORMED, "no code found")
        code = match.group(1) if regex.groups else match.group(0)
        return Parsed(code.upper() if upper else code)

    return parse


def make_parser(name: str, options: dict[str, Any]) -> Parser:
    return PARSERS.build(name, options)


@PARSERS.register("yes_no")
def yes_no_parser() -> Parser:
    """Ja/Nein answers (the study's verify rule): '"*[jJ]a' -> True, '"*[Nn]ein' -> False after leading spaces; else NA."""

    def parse(text: str) -> Parsed:
        answer = text.lstrip()
        if not answer:
            return Parsed(None, EMPTY, "empty output")
        if re.match(r'"*[jJ]a', answer):
            return Parsed(True)
        if re.match(r'"*[Nn]ein', answer):
            return Parsed(False)
        return Parsed(None, MALFORMED, "neither Ja nor Nein")

    return parse
