"""The prompt filters UroLlmEval templates use: candidate dates, the dates near a diagnosis, the study's line joining."""

import re

from harness.families.urollmeval.textmatch import date_candidates, date_questions, dates_near
from harness.prompts import PROMPT_FILTERS

_LONE_LINE_BREAK = re.compile(r"\n(?!\n)")


def no_linebreaks(text: object) -> str:
    """Every line break not followed by another one as a space: lines are joined, a blank line keeps one break.

    Study: results_helper.py, no_linebreaks. The study passes its instructions through it together with the
    diagnosis text put into them (steps 2 and 3), so a diagnosis over several lines reaches the model on one.
    """
    return _LONE_LINE_BREAK.sub(" ", str(text))


PROMPT_FILTERS.add("date_candidates", date_candidates)
PROMPT_FILTERS.add("dates_near", dates_near)
PROMPT_FILTERS.add("date_questions", date_questions)
PROMPT_FILTERS.add("no_linebreaks", no_linebreaks)
