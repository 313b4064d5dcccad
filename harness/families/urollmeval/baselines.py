"""UroLlmEval's step-3 regex heuristic as a baseline method: the first regex date within ``max_line_dist``
lines of the fuzzily located diagnosis, else "Nein"."""

from __future__ import annotations

from harness.families.urollmeval.textmatch import first_date_near
from harness.records import Request
from harness.runners.baseline import BASELINE_METHODS, BaselineMethod, BaselineRunner

DATE_KIND = "first_diagnosis_date"


def answer_regex_date(runner: BaselineRunner, request: Request) -> str:
    date = first_date_near(runner.field(request, "text"), runner.field(request, "diagnosis"), runner.max_line_dist)
    return date or "Nein"


BASELINE_METHODS.add("regex_date", BaselineMethod(frozenset({DATE_KIND}), answer_regex_date))
