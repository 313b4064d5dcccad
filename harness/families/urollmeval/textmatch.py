"""Dates and diagnosis locations in snippet text (UroLlmEval step 3); used by prompts and baselines."""

from __future__ import annotations

import re

# UroLlmEval step 3: candidate dates are these forms, in text order, de-duplicated
DATE_PATTERN = re.compile(r"\b(\d{4}|\d{1,2}/\d{4}|\d{1,2}/\d{2}|\d{1,2}\.\d{1,2}\.\d{4})\b")


def date_candidates(text: str) -> list[str]:
    """Every date-like string in the text, first occurrence order, without repeats."""
    return list(dict.fromkeys(DATE_PATTERN.findall(text)))


def fuzzy_find(text: str, query: str) -> tuple[int, int] | None:
    """Span of ``text`` closest to ``query`` by Levenshtein distance (UroLlmEval's sliding window).

    A window as long as the query slides over the text; the first window with the smallest distance
    is then shrunk at its end and start while the distance strictly falls, and grown at its end and
    start while it does not rise; surrounding whitespace is trimmed. None when the text is shorter
    than the query (the study's code raises there).
    """
    from rapidfuzz.distance import Levenshtein

    width = len(query)
    if width == 0 or len(text) < width:
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
    while end < len(text) and dist(start, end + 1) <= best:
        end += 1
        best = dist(start, end)
    while start > 0 and dist(start - 1, end) <= best:
        start -= 1
        best = dist(start, end)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def dates_near(text: str, diagnosis: str, max_line_dist: int) -> list[str]:
    """Dates within ``max_line_dist`` lines of where the diagnosis is found, nearest first, then text order."""
    span = fuzzy_find(text, diagnosis)
    if span is None:
        return []
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(offset: int) -> int:
        return sum(1 for s in line_starts if s <= offset) - 1

    first_line, last_line = line_of(span[0]), line_of(max(span[0], span[1] - 1))
    found: list[tuple[int, str]] = []
    for match in DATE_PATTERN.finditer(text):
        line = line_of(match.start())
        distance = min(abs(line - first_line), abs(line - last_line))
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
