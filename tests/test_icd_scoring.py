"""Code extraction, validity and hierarchical credit: every outcome class and level pinned."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.catalogues.codes import find_icd10_codes, find_morphology_codes, find_topography_codes, first_icd10_code
from harness.scoring.icd import OUTCOMES, icd10gm_code_parser, icd10gm_values, icdo3_morphology_parser, icdo3_topography_parser
from harness.scoring.parsers import EMPTY, MALFORMED, OK


class TinyCatalogue:
    """Just enough of a catalogue year: codes -> (block, chapter)."""

    CODES = {
        "C34": ("C30", "02"), "C34.1": ("C30", "02"), "C34.10": ("C30", "02"), "C34.9": ("C30", "02"),
        "C33": ("C30", "02"), "C61": ("C60", "02"), "C67.2": ("C60", "02"), "C78.0": ("C76", "02"),
        "D05.1": ("D00", "02"), "J18.9": ("J09", "10"), "C90.00": ("C81", "02"),
    }

    def __contains__(self, code: str) -> bool:
        return code in self.CODES

    def block_of(self, code: str) -> str | None:
        entry = self.CODES.get(code) or self.CODES.get(code[:3])
        return entry[0] if entry else None

    def chapter_of(self, code: str) -> str | None:
        entry = self.CODES.get(code) or self.CODES.get(code[:3])
        return entry[1] if entry else None


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("C61", ["C61"]),
        ("C61.9", ["C61.9"]),
        ("c 61", ["C61"]),
        ("C34.1 (Oberlappen)", ["C34.1"]),
        ("C61.-", ["C61"]),
        ("C90.00", ["C90.00"]),
        ("E14.30† H36.0*", ["E14.30", "H36.0"]),
        ("Diagnose: Prostatakarzinom, ICD-10 C61, pT2c", ["C61"]),
        ("ca. 61 Jahre", []),
    ],
)
def test_find_icd10_codes(text: str, codes: list[str]) -> None:
    assert [f.code for f in find_icd10_codes(text)] == codes


def test_markers_are_kept_apart() -> None:
    found = find_icd10_codes("E14.30† H36.0* U61.2!")
    assert [(f.code, f.marker) for f in found] == [("E14.30", "†"), ("H36.0", "*"), ("U61.2", "!")]
    # the dagger code is the answer; asterisk and additional codes do not make it "several codes"
    assert icd10gm_code_parser()("E14.30† H36.0* U61.2!").value == "E14.30"


def test_other_code_systems() -> None:
    assert [f.code for f in find_topography_codes("C61.9, C 34.1 und C619")] == ["C61.9", "C34.1", "C61.9"]
    assert [f.code for f in find_morphology_codes("8140/3 oder M-8500/3, 8070 / 2")] == ["8140/3", "8500/3", "8070/2"]
    assert icdo3_topography_parser()("Lokalisation C61").value == "C61"
    assert icdo3_morphology_parser()("keine Angabe").reason == "no_code"
    assert first_icd10_code("Der Code lautet C34.1.") == "C34.1" and first_icd10_code("5-604.0") is None


@pytest.mark.parametrize(
    ("text", "status", "reason"),
    [("", EMPTY, "empty"), ("  ", EMPTY, "empty"), ("Lungenkrebs", MALFORMED, "no_code"),
     ("C34.1 oder C34.9", MALFORMED, "several_codes"), ("C34.1, also C34.1", OK, "")],
)
def test_parse_statuses(text: str, status: str, reason: str) -> None:
    parsed = icd10gm_code_parser()(text)
    assert (parsed.status, parsed.reason) == (status, reason)


@pytest.mark.parametrize(
    ("code", "gold", "outcome", "levels"),
    [
        ("C34.1", "C34.1", "exact", (1, 1, 1, 1, 1)),
        ("C34.10", "C34.1", "same_4char", (0, 1, 1, 1, 1)),
        ("C34.9", "C34.1", "same_3char", (0, 0, 1, 1, 1)),
        ("C33", "C34.1", "same_block", (0, 0, 0, 1, 1)),
        ("C61", "C34.1", "same_chapter", (0, 0, 0, 0, 1)),
        ("J18.9", "C34.1", "valid_wrong", (0, 0, 0, 0, 0)),
        ("C34.7", "C34.1", "hallucinated", (0, 0, 1, 1, 1)),  # not in the year, yet its category is right
        ("C78.0", "C34.1", "secondary_neoplasm", (0, 0, 0, 0, 1)),
        ("C90.00", "C90.00", "exact", (1, 1, 1, 1, 1)),
    ],
)
def test_icd10gm_outcomes_and_levels(code: str, gold: str, outcome: str, levels: tuple[int, ...]) -> None:
    values = icd10gm_values(code, gold, TinyCatalogue(), primary_expected=True)
    assert values["outcome"] == outcome
    assert tuple(values[k] for k in ("exact", "same_4char", "same_3char", "same_block", "same_chapter")) == levels
    assert values["correct"] == levels[0] and values["partial"] == levels[2]
    assert outcome in OUTCOMES


def test_secondary_allowed_when_no_primary_is_asked() -> None:
    assert icd10gm_values("C78.0", "C34.1", TinyCatalogue(), primary_expected=False)["outcome"] == "same_chapter"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_code_parsers_never_raise(text: str) -> None:
    for parser in (icd10gm_code_parser(), icdo3_topography_parser(), icdo3_morphology_parser()):
        parsed = parser(text)
        assert parsed.status in (OK, MALFORMED, EMPTY)


def original_icd10gm_values(code: str, gold: str, catalogue, primary_expected: bool) -> dict:
    """The hierarchical credit as it was computed before the column form (issue 17), kept as the specification."""
    levels = ("exact", "same_4char", "same_3char", "same_block", "same_chapter")
    same = {
        "exact": code == gold,
        "same_4char": code[:5] == gold[:5] and len(code) >= 5 and len(gold) >= 5,
        "same_3char": code[:3] == gold[:3],
        "same_block": catalogue.block_of(code) is not None and catalogue.block_of(code) == catalogue.block_of(gold),
        "same_chapter": catalogue.chapter_of(code) is not None and catalogue.chapter_of(code) == catalogue.chapter_of(gold),
    }
    same["same_4char"] = same["same_4char"] or same["exact"]
    in_catalogue = code in catalogue
    if not in_catalogue:
        outcome = "hallucinated"
    elif primary_expected and code[:3] in ("C77", "C78", "C79"):
        outcome = "secondary_neoplasm"
    else:
        outcome = next((level for level in levels if same[level]), "valid_wrong")
    return {"outcome": outcome, "correct": int(same["exact"]), "partial": int(same["same_3char"]),
            **{level: int(value) for level, value in same.items()}, "in_catalogue": int(in_catalogue)}


codes = st.sampled_from([*TinyCatalogue.CODES, "C34.7", "C79.5", "C77", "Z99.9", "C3", "", "C34.1x"]) | st.from_regex(
    r"[A-Z][0-9]{2}(\.[0-9]{1,2})?", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(codes, codes, st.booleans())
def test_icd10gm_values_are_the_original_ones(code: str, gold: str, primary_expected: bool) -> None:
    got = icd10gm_values(code, gold, TinyCatalogue(), primary_expected)
    expected = original_icd10gm_values(code, gold, TinyCatalogue(), primary_expected)
    assert got == expected and list(got) == list(expected)


answers = st.sampled_from(["C61", "c 61", "C34.1 (Oberlappen)", "C61 oder C62.9", "", "  ", "Kein Code", "C79.5",
                           "C90.00", "C34.1", "Z99.99", "E14.30†", "G13.0*"]) | st.text(max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(answers, st.sampled_from(["C34.1", "C61", " c90.00 ", "C62.0"])), max_size=30))
def test_column_forms_equal_one_sample_at_a_time(pairs: list[tuple[str, str]]) -> None:
    """The ICD-10-GM parser and scorer over a column (each distinct text parsed once, each distinct code placed once,
    equal values shared) give what they give one sample at a time."""
    from support.files import CATALOGUE_FIXTURES

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONKOBENCH_CATALOGUE_DIR", str(CATALOGUE_FIXTURES))
        from harness.scoring.icd import icd10gm_hierarchy_scorer

        score = icd10gm_hierarchy_scorer(year=2099)
    parse = icd10gm_code_parser()
    texts, targets = [text for text, _ in pairs], [target for _, target in pairs]
    parsed = parse.many(texts)
    assert parsed == [parse(text) for text in texts]
    assert parse.many(texts) == parsed  # again, from what it remembered
    assert score.many(parsed, targets) == [score(answer, target) for answer, target in zip(parsed, targets)]
