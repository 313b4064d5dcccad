"""Reasoning ("thinking") output: the trace and the final answer kept apart.

An answer is only the text after the end-of-thinking marker. Output cut off by the token budget
before that marker is its own failure class (``reasoning_truncated``) and never parsed as an answer
(the failure lm-eval #3382 describes).
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_START = "<think>"
THINK_END = "</think>"


@dataclass(frozen=True, slots=True)
class SplitOutput:
    answer: str
    reasoning: str | None
    truncated: bool
    """The budget ran out inside the reasoning: there is no answer at all."""


def split_reasoning(text: str, reasoning_on: bool, think_end: str = THINK_END, think_start: str = THINK_START) -> SplitOutput:
    """Split raw model text into reasoning and answer.

    With reasoning off, text is the answer (a stray trace before an end marker is still split off).
    With reasoning on and no end marker, the whole text is an unfinished trace.
    """
    index = text.find(think_end)
    if index >= 0:
        trace = text[:index]
        start = trace.find(think_start)
        if start >= 0:
            trace = trace[start + len(think_start):]
        return SplitOutput(text[index + len(think_end):].lstrip("\n"), trace.strip("\n"), False)
    if reasoning_on:
        start = text.find(think_start)
        trace = text[start + len(think_start):] if start >= 0 else text
        return SplitOutput("", trace, True)
    return SplitOutput(text, None, False)
