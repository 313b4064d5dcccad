"""UroLlmEval parsers as the study's analysis code applies them: the step-1 JSON array and the step-3 date.

Every rule below is checked against stefan-m-lenz/UroLlmEval (file and function named at each rule);
where onkobench thinks the study is wrong, the cleaner rule is an option or a separately registered
name, never the default (tasks/urollmeval/README.md, "Where we differ from the study").
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness.scoring.parsers import EMPTY, MALFORMED, PARSERS, Parsed, Parser, flatten

# ---------------------------------------------------------------------------------------------------
# step 1: the JSON array of diagnosis strings


def study_array_text(text: str) -> str:
    """The text the study hands to ``json.loads`` for a step-1 answer.

    Study: results_helper.py, parse_json_array. It keeps what follows the first '[' (the whole answer
    when there is none), walks it counting every '[' and ']' (quoted or not) from depth one, stops
    right after the bracket that brings the depth to zero or at the end of the answer, and puts a '['
    in front again. So ``"X"]`` reads as ``["X"]``, and a '[' inside a string leaves the depth above
    zero, so the rest of the answer is taken as a whole (``["a [b"]`` stays valid JSON).
    """
    rest = text[text.find("[") + 1 :]  # find gives -1 without '[': then the whole answer
    depth = 1
    end = len(rest)
    for index, char in enumerate(rest):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                end = index + 1
                break
    # the study replaces only the English curly quotes, not the German low quote U+201E
    return ("[" + rest[:end]).replace("\u201c", '"').replace("\u201d", '"')


def _shallow(items: list[Any]) -> list[Any]:
    # The decision needs the top-level length and step 2 the flattened items; a top-level list keeps
    # its place with its own items flattened, so both survive while stored answers stay shallow (a
    # deeply nested answer could not be written back as JSON within Python's recursion limit).
    return [flatten(item) if isinstance(item, list) else item for item in items]


@PARSERS.register("urollmeval_json_array")
def step1_array_parser() -> Parser:
    """UroLlmEval step 1 as the study parses it: '[' + text up to the matching ']', the list unflattened.

    Study: analyze_step1_results.py, json_array_answer_to_bool, with results_helper.py,
    parse_json_array. The value is the parsed list with its top-level items kept (a nested list among
    them is flattened into one list), so "tumour found" is ``len(value) > 0`` as in the study: ``[[]]``
    is positive. Step 2 flattens it, as the study's extract_diagnosis_texts does. The cleaner rule is
    the generic ``json_array`` (string-blind bracket matching that gives up instead of reading on,
    no '[' = malformed, flattened first, so ``[[]]`` is negative).
    """

    def parse(text: str) -> Parsed:
        if not text.strip():
            return Parsed(None, EMPTY, "empty output")  # the study: json.loads("[...") fails, NA
        try:
            value = json.loads(study_array_text(text))
        except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
            return Parsed(None, MALFORMED, f"invalid JSON array: {getattr(err, 'msg', None) or type(err).__name__}")
        return Parsed(_shallow(value))

    return parse


# ---------------------------------------------------------------------------------------------------
# step 3: the date of first diagnosis

_ISO_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_GERMAN_DATE = re.compile(r"(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4})")
_NUMBER = re.compile(r"\d*/?\d+")


def _century(year: int) -> int:
    # study: analyze_step3_results.py, normalize_year: below 100, above 30 -> 19xx, else 20xx
    if year < 100:
        return year + (1900 if year > 30 else 2000)
    return year


def normalise_date_str(text: str) -> str | None:
    """The study's date normalisation (no "Nein" rule); None = not a date.

    Study: analyze_step3_results.py, normalize_date_str. In order: an answer matching
    ``^\\d{4}(-\\d{2}(-\\d{2})?)?$`` is returned exactly as it is (``$`` also matches before one final
    newline, so "2019\\n" comes back with its newline and then differs from the gold "2019"); else
    the first D.M.YYYY -> YYYY-MM-DD; else the first ``\\d*/?\\d+``: M/Y -> YYYY-MM (month outside
    1-12 -> None; years below 100 get a century) and a bare number is kept as it is ("pT2" gives "2").
    Years are written unpadded, as the study's f-strings do.
    """
    if not text:
        return None
    if _ISO_DATE.match(text):
        return text
    german = _GERMAN_DATE.search(text)
    if german:
        return f"{_century(int(german['year']))}-{int(german['month']):02d}-{int(german['day']):02d}"
    number = _NUMBER.search(text)
    if number is None:
        return None
    token = number.group(0)
    if "/" not in token:
        return token
    month_text, year_text = token.split("/")
    if not month_text:
        return None  # "/2019": the study's int("") raises here; onkobench calls it no date
    month = int(month_text)
    if not 1 <= month <= 12:
        return None
    return f"{_century(int(year_text))}-{month:02d}"


def normalise_date(text: str) -> str | None:
    """UroLlmEval step 3 answer: the normalised date, else "0" for a "Nein"; None = no answer (NA).

    Study: analyze_step3_results.py, normalize_date_answer: first normalise_date_str; only when that
    gives nothing (no digits, or an impossible month such as "13/2019") does "Nein" at the start
    (after spaces) or " not " make the answer "0". So "Nein, 2015 war das Rezidiv" is "2015", but
    "Nein (13/2019)" is "0".
    """
    date = normalise_date_str(text)
    if date:
        return date
    if re.match(r"\s*[Nn]ein", text) or re.search(r"\s+not\s+", text):
        return "0"
    return None


@PARSERS.register("urollmeval_date")
def date_parser(strip: bool = False) -> Parser:
    """UroLlmEval step 3: normalised first-diagnosis date, or "0" for "Nein"; anything else is NA.

    The study compares the raw answer (analyze_step3_results.py, run_analysis applies
    normalize_date_answer to the stored model_answer), so a kept date with one trailing newline
    ("2019\\n") is wrong. ``strip: true`` (onkobench's cleaner rule, not the default) strips surrounding
    whitespace first, since runners differ in keeping a trailing newline.
    """

    def parse(text: str) -> Parsed:
        answer = text.strip() if strip else text
        if not answer.strip():
            return Parsed(None, EMPTY, "empty output")
        value = normalise_date(answer)
        if value is None:
            return Parsed(None, MALFORMED, "no date and no 'Nein'")
        return Parsed(value)

    return parse
