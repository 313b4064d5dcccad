"""UroLlmEval step 3 verify: the yes/no answers about each candidate date -> one date."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Any

from harness.families.urollmeval.parsers import normalise_date_str
from harness.scoring.aggregators import AGGREGATORS, Aggregator
from harness.scoring.parsers import MALFORMED, Parsed


def common_date_part(a: str, b: str) -> str:
    """The longest shared date precision of two normalised dates: day, month, year, or ''."""
    if len(a) >= 10 and len(b) >= 10 and a[:10] == b[:10]:
        return a[:10]
    if len(a) >= 7 and len(b) >= 7 and a[:7] == b[:7]:
        return a[:7]
    if a[:4] == b[:4]:
        return a[:4]
    return ""


@AGGREGATORS.register("verify_dates")
def verify_dates_aggregator(field: str = "date") -> Aggregator:
    """UroLlmEval verify: no "Ja" -> "0"; one -> that date; several -> the longest if they share a date part, else NA."""

    def aggregate(answers: Sequence[tuple[Any, Parsed]]) -> Parsed:
        # an unparsable yes/no answer counts as "not yes"
        yes = [item[field] if isinstance(item, dict) else item for item, parsed in answers if parsed.ok and parsed.value]
        if not yes:
            return Parsed("0")
        # study: analyze_step3_results.py, combine_yes_no_answer_to_date_answer normalises the
        # confirmed candidates with normalize_date_str (no "Nein" rule)
        dates = [normalise_date_str(str(date)) or "" for date in yes]
        if len(dates) == 1:
            return Parsed(dates[0]) if dates[0] else Parsed(None, MALFORMED, "confirmed date not normalisable")
        if not reduce(common_date_part, dates):
            return Parsed(None, MALFORMED, f"several confirmed dates without a common part: {', '.join(dates)}")
        return Parsed(max(dates, key=len))  # max keeps the first of equally long dates

    return aggregate
