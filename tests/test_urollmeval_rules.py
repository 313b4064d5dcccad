"""Every UroLlmEval parsing rule and metric, pinned on hand-made cases (protocols.md, part A)."""

from __future__ import annotations

import pytest

from harness.scoring import compute_metrics
from harness.families.urollmeval.aggregators import common_date_part, verify_dates_aggregator
from harness.scoring.metrics import ScoredSample
from harness.families.urollmeval.parsers import date_parser
from harness.scoring.parsers import EMPTY, MALFORMED, Parsed, code_parser, yes_no_parser
from harness.families.urollmeval.scorers import icd10_category_in_gold_scorer

STEP2_CODE = code_parser(r"\b([CD][0-9]{2})\b", ignore_case=False, upper=False)


@pytest.mark.parametrize(
    ("answer", "value"),
    [
        ("2019", "2019"),
        ("2019-03", "2019-03"),
        ("2019-03-05", "2019-03-05"),
        ("  2019\n", "2019"),  # not ISO from the start (no strip, as the study): the first number wins
        ("Die ED war am 5.3.2019.", "2019-03-05"),  # first D.M.YYYY, zero-padded
        ("03/2019", "2019-03"),
        ("3/19", "2019-03"),
        ("3/30", "2030-03"),  # two-digit years up to 30 -> 20xx
        ("3/31", "1931-03"),  # above 30 -> 19xx
        ("ED 2019-03", "2019"),  # not ISO from the start: the first number wins
        ("pT2 seit 2015", "2"),  # quirk: a bare number is kept as it is
        ("03.2015", "03"),  # quirk: month.year is not a D.M.YYYY date
        ("Nein", "0"),
        ("nein, kein Datum", "0"),
        ("The date is not given", "0"),  # " not " also means no date
        ("Nein, 2015 war das Rezidiv", "2015"),  # quirk: a number is checked before "Nein"
    ],
)
def test_date_normalisation(answer: str, value: str) -> None:
    parsed = date_parser()(answer)
    assert parsed.ok and parsed.value == value


@pytest.mark.parametrize(("answer", "status"), [("13/2019", MALFORMED), ("0/2019", MALFORMED), ("unbekannt", MALFORMED), ("", EMPTY), (" \n", EMPTY)])
def test_date_na(answer: str, status: str) -> None:
    assert date_parser()(answer).status == status


@pytest.mark.parametrize(
    ("answer", "value"),
    [("Ja", True), ('"Ja."', True), ("  ja", True), ("Nein", False), ('""nein', False), ("Jein", None), ("JA", None), ("Vielleicht", None)],
)
def test_yes_no(answer: str, value: bool | None) -> None:
    parsed = yes_no_parser()(answer)
    assert parsed.value == value
    assert parsed.ok == (value is not None)


def verify(*answers: tuple[str, bool | None]) -> Parsed:
    parsed = [({"date": date}, Parsed(yes) if yes is not None else Parsed(None, MALFORMED, "x")) for date, yes in answers]
    return verify_dates_aggregator()(parsed)


def test_verify_aggregation() -> None:
    assert verify().value == "0"  # no candidate at all
    assert verify(("2019", False), ("3/2019", None)).value == "0"  # an unparsable answer is "not yes"
    assert verify(("3/2019", True), ("2020", False)).value == "2019-03"  # one yes: that date, normalised
    assert verify(("2019", True), ("3/2019", True)).value == "2019-03"  # shared prefix: the longest
    assert verify(("1.3.2019", True), ("3/2019", True), ("2019", True)).value == "2019-03-01"
    assert verify(("3/2019", True), ("4/2019", True)).value == "2019-03"  # quirk: only the year is shared
    assert verify(("2018", True), ("2019", True)).status == MALFORMED  # nothing shared: NA


def test_common_date_part() -> None:
    assert common_date_part("2019-03-01", "2019-03-01") == "2019-03-01"
    assert common_date_part("2019-03-01", "2019-03-02") == "2019-03"
    assert common_date_part("2019-03", "2019-04") == "2019"
    assert common_date_part("2019", "2018") == ""


@pytest.mark.parametrize(
    ("answer", "code"),
    [("C61", "C61"), ("Der Code ist C61.9", "C61"), ("ICD: D47.1", "D47"), ("C61 oder C67", "C61"),
     ("c61", None), ("C7", None), ("XC61", None), ("C611", None)],
)
def test_step2_code_rule(answer: str, code: str | None) -> None:
    assert STEP2_CODE(answer).value == code


def step2(group: str, gold: list[str], answer: str) -> ScoredSample:
    parsed = STEP2_CODE(answer)
    values = icd10_category_in_gold_scorer()(parsed, gold)
    return ScoredSample(f"{group}/{answer}", None, parsed.status, parsed.reason, parsed.value, gold, values, group=group)


def test_step2_metrics_by_hand() -> None:
    samples = [
        step2("A", ["C61"], "C61"),  # correct
        step2("A", ["C61"], "C78"),  # metastasis: NA, but allowed by "no other"
        step2("B", ["C61", "C67"], "C61"),  # correct
        step2("B", ["C61", "C67"], "keine Ahnung"),  # NA: C67 never found
        step2("C", [], "C34"),  # a step-1 false positive coded: wrong
        step2("D", [], "C79"),  # a false positive answered with a metastasis code: fine
    ]
    m = compute_metrics(
        ["p_potentially_correct_diagnoses", "p_na", "p_C77_79", "p_all_diagnoses_found_in_snippets_with_diagnoses",
         "p_no_other_diagnoses_found_for_snippet", "p_snippets_correct"],
        samples,
    )
    assert m["p_potentially_correct_diagnoses"].value == pytest.approx(2 / 3)  # of the non-NA answers A1, B1, C1
    assert m["p_na"].value == pytest.approx(3 / 6)  # A2 (C78), B2 (no code), D1 (C79)
    assert m["p_C77_79"].value == pytest.approx(2 / 6)
    assert m["p_all_diagnoses_found_in_snippets_with_diagnoses"].value == pytest.approx(1 / 2)  # A yes, B no
    assert m["p_all_diagnoses_found_in_snippets_with_diagnoses"].n == 2
    assert m["p_no_other_diagnoses_found_for_snippet"].value == pytest.approx(3 / 4)  # only C fails
    assert m["p_snippets_correct"].value == pytest.approx(2 / 4)  # A and D
    assert m["p_snippets_correct"].n == 4


def test_step1_and_step3_metric_names() -> None:
    rows = [
        ScoredSample("1", None, "ok", "", "2019", "2019", {"correct": 1, "na": 0}),
        ScoredSample("2", None, "ok", "", "0", "2018", {"correct": 0, "na": 0}),
        ScoredSample("3", None, "malformed", "x", None, "2017", {"correct": 0, "na": 1}),
    ]
    m = compute_metrics(["p_correct_total", "p_correct", "p_na"], rows)
    assert (m["p_correct_total"].value, m["p_correct"].value, m["p_na"].value) == pytest.approx((1 / 3, 1 / 2, 1 / 3))
