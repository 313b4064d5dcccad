from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.families.urollmeval.textmatch import date_candidates, date_questions, dates_near, first_date_near, fuzzy_find

SNIPPET = (
    "Mammakarzinom rechts ED 2015, Z.n. BET.\n"  # line 0
    "Prostatakarzinom pT2c, RPE 03/2019.\n"  # line 1
    "Kontrolle 12.05.2021 unauffällig, PSA 2017 erhöht.\n"  # line 2
    "keine Auffälligkeiten\n"  # line 3
    "Verlauf 2010."  # line 4
)


def test_date_candidates_in_text_order_without_repeats() -> None:
    text = "ED 03/2019, OP 12.05.2019, Rezidiv 2021, PSA 03/2019, 5/19"
    assert date_candidates(text) == ["03/2019", "12.05.2019", "2021", "5/19"]


def test_fuzzy_find_exact_and_misspelt() -> None:
    start, end = fuzzy_find(SNIPPET, "Prostatakarzinom")
    assert SNIPPET[start:end] == "Prostatakarzinom"
    start, end = fuzzy_find(SNIPPET, "Prostatakarcinom")
    assert SNIPPET[start:end] == "Prostatakarzinom"
    assert fuzzy_find("kurz", "viel zu lange Diagnose") is None


def test_dates_near_by_line_distance() -> None:
    assert dates_near(SNIPPET, "Prostatakarzinom", 0) == ["03/2019"]
    # distance 1: nearest first, then text order within a distance
    assert dates_near(SNIPPET, "Prostatakarzinom", 1) == ["03/2019", "2015", "12.05.2021", "2017"]
    assert dates_near(SNIPPET, "Prostatakarzinom", 2) == ["03/2019", "2015", "12.05.2021", "2017"]
    assert dates_near(SNIPPET, "Verlauf", 0) == ["2010"]
    assert first_date_near(SNIPPET, "keine Auffälligkeiten", 0) is None
    assert first_date_near(SNIPPET, "keine Auffälligkeiten", 1) == "12.05.2021"


def test_date_questions_follow_each_diagnosis() -> None:
    questions = date_questions(SNIPPET, ["Prostatakarzinom", "Mammakarzinom"], 0)
    assert questions == [
        {"diagnosis": "Prostatakarzinom", "date": "03/2019"},
        {"diagnosis": "Mammakarzinom", "date": "2015"},
    ]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=120), st.text(min_size=1, max_size=20))
def test_fuzzy_find_span_inside_text(text: str, query: str) -> None:
    span = fuzzy_find(text, query)
    if span is not None:
        assert 0 <= span[0] <= span[1] <= len(text)
