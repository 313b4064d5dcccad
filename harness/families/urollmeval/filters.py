"""The prompt filters step-3 templates use: candidate dates and the dates near a diagnosis."""

from harness.families.urollmeval.textmatch import date_candidates, date_questions, dates_near
from harness.prompts import PROMPT_FILTERS

PROMPT_FILTERS.add("date_candidates", date_candidates)
PROMPT_FILTERS.add("dates_near", dates_near)
PROMPT_FILTERS.add("date_questions", date_questions)
