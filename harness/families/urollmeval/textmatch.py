"""Dates and diagnosis locations in snippet text (UroLlmEval step 3); used by prompts and baselines."""

from __future__ import annotations

import re
from bisect import bisect_right

# UroLlmEval step 3: candidate dates are these forms, in text order, de-duplicated
DATE_PATTERN = re.compile(r"\b(\d{4}|\d{1,2}/\d{4}|\d{1,2}/\d{2}|\d{1,2}\.\d{1,2}\.\d{4})\b")


def date_candidates(text: str) -> list[str]:
    """Every date-like string in the text, first occurrence order, without repeats."""
    return list(dict.fromkeys(DATE_PATTERN.findall(text)))


def fuzzy_find(text: str, query: str) -> tuple[int, int] | None:
    """Span of ``text`` closest to ``query`` by Levenshtein distance (UroLlmEval's sliding window).

    Study: find_dates_heuristics.py, fuzzy_find. A window as long as the query slides over the text;
    the first window with the smallest distance is shrunk at its end, then at its start, while the
    distance strictly falls (the best distance follows each step), then grown at its end, then at its
    start, while the distance stays at or below the distance reached by the shrinking (the study does
    not lower that bound while growing, so a growth step that improves the match does not stop the
    next one); surrounding whitespace is trimmed. An empty query gives the empty span at 0, as in the
    study. None when the text is shorter than the query (the study's code raises there).
    """
    from rapidfuzz.distance import Levenshtein

    width = len(query)
    if len(text) < width:
        return None
    best_start, best = 0, Levenshtein.distance(text[:width], query)
    for start in range(1, len(text) - width + 1):
        distance = Levenshtein.distance(text[start : start + width], query)
        if distance < best:
            best_start, best = start, distance
    start, end = best_start, best_start + width

    def dist(a: int, b: int) -> int:
        return Levenshtein.distance(text[a:b], query)

    while end - 1 > start and dist(start, end - 1) < best:
        end -= 1
        best = dist(start, end)
    while start + 1 < end and dist(start + 1, end) < best:
        start += 1
        best = dist(start, end)
    bound = best  # fixed from here on
    while end < len(text) and dist(start, end + 1) <= bound:
        end += 1
    while start > 0 and dist(start - 1, end) <= bound:
        start -= 1
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def diagnosis_lines(text: str, start: int, end: int) -> list[int]:
    """The line numbers a diagnosis span counts as lying on: its first and its last line only.

    Study: find_dates_heuristics.py, find_most_likely_dates. Each line owns its characters and the
    newline after it. The line owning ``start`` is recorded, then the first line owning the
    character before ``end`` (the span's last character); the search stops there. Lines between
    the two are not recorded, so a date in the middle of a diagnosis over three or more lines is one
    line or more away from it. An empty span right at the start of a line is counted on the line
    before only (the search stops there before reaching the start's line).
    """
    found: list[int] = []
    line_begin = 0
    for number, line in enumerate(text.split("\n")):
        line_after = line_begin + len(line) + 1  # the next line's first offset
        if line_begin <= start < line_after:
            found.append(number)
        if line_begin < end <= line_after:
            found.append(number)
            break
        line_begin = line_after
    return found


def dates_near(text: str, diagnosis: str, max_line_dist: int) -> list[str]:
    """Dates within ``max_line_dist`` lines of where the diagnosis is found, nearest first, then text order.

    Study: find_dates_heuristics.py, fuzzy_find_dates: the line distance of a date is the smaller one
    to the diagnosis's first and last line (``diagnosis_lines``); the candidates are sorted by it
    (stable). Repeats are left out here; the study keeps them, but its callers take the first date
    (run_evaluation_step3.py, regex_match_heuristics_result) or drop repeats with dict.fromkeys
    (change_queries_to_incorporate_dates).
    """
    span = fuzzy_find(text, diagnosis)
    if span is None:
        return []
    lines = diagnosis_lines(text, *span)
    if not lines:
        return []
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    found: list[tuple[int, str]] = []
    for match in DATE_PATTERN.finditer(text):
        line = bisect_right(line_starts, match.start()) - 1
        distance = min(abs(line - number) for number in lines)
        if distance <= max_line_dist:
            found.append((distance, match.group(1)))
    found.sort(key=lambda pair: pair[0])  # stable: text order within one distance
    return list(dict.fromkeys(date for _, date in found))


def first_date_near(text: str, diagnosis: str, max_line_dist: int) -> str | None:
    dates = dates_near(text, diagnosis, max_line_dist)
    return dates[0] if dates else None


def date_questions(text: str, diagnoses: list[str], max_line_dist: int = 2) -> list[dict[str, str]]:
    """One {diagnosis, date} per date near each diagnosis (UroLlmEval verify queries, in order)."""
    return [{"diagnosis": d, "date": date} for d in diagnoses for date in dates_near(text, d, max_line_dist)]
