"""UroLlmEval step 3: the study's date normalisation and its date parser."""

from __future__ import annotations

import re

from harness.scoring.parsers import EMPTY, MALFORMED, PARSERS, Parsed, Parser

_ISO_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_GERMAN_DATE = re.compile(r"(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4})")
_NUMBER = re.compile(r"\d*/?\d+")


def normalise_date(text: str) -> str | None:
    """UroLlmEval step 3 date normalisation; None = no answer (NA).

    In order: an ISO-like answer is kept; else the first D.M.YYYY -> YYYY-MM-DD; else the first
    ``\\d*/?\\d+``: M/YY(YY) -> YYYY-MM (month outside 1-12 -> NA; two-digit years above 30 -> 19xx,
    else 20xx) and a bare number is kept as it is (so "pT2" gives "2"); only without any digit:
    "Nein" at the start or " not " -> "0".
    """
    if _ISO_DATE.match(text):
        return text
    german = _GERMAN_DATE.search(text)
    if german:
        return f"{int(german['year']):04d}-{int(german['month']):02d}-{int(german['day']):02d}"
    number = _NUMBER.search(text)
    if number:
        token = number.group(0)
        if "/" not in token:
            return token
        month_text, year_text = token.split("/")
        if not month_text:
            return None
        month, year = int(month_text), int(year_text)
        if not 1 <= month <= 12:
            return None
        if year < 100:
            year += 1900 if year > 30 else 2000
        return f"{year:04d}-{month:02d}"
    if re.match(r"\s*[Nn]ein", text) or re.search(r"\s+not\s+", text):
        return "0"
    return None


@PARSERS.register("urollmeval_date")
def date_parser() -> Parser:
    """UroLlmEval step 3: normalised first-diagnosis date, or "0" for "Nein"; anything else is NA."""

    def parse(text: str) -> Parsed:
        # runners differ in keeping a trailing newline; the study compared the bare answer
        answer = text.strip()
        if not answer:
            return Parsed(None, EMPTY, "empty output")
        value = normalise_date(answer)
        if value is None:
            return Parsed(None, MALFORMED, "no date and no 'Nein'")
        return Parsed(value)

    return parse
