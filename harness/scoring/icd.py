"""ICD-10-GM and ICD-O-3 answers: tolerant code extraction, catalogue validity, hierarchical credit.

Every answer gets one outcome class (a first-class column each): ``empty``, ``no_code``,
``several_codes`` (syntactically malformed), ``hallucinated`` (well-formed, not in that catalogue
year), ``secondary_neoplasm`` (C77-C79 where a primary tumour was asked), then by hierarchy
``exact``, ``same_4char``, ``same_3char``, ``same_block``, ``same_chapter`` or ``valid_wrong``.

The per-sample values are credit flags and the outcome class only: the code found and the gold code stay in the
score row's answer and target. Published results carry the values, and the catalogue sets' ids are catalogue ids,
so a gold code beside them would pass a table derived from the catalogue on (the BfArM and WHO terms forbid it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from harness.catalogues.codes import SECONDARY_NEOPLASMS, FoundCode, find_icd10_codes, find_morphology_codes, find_topography_codes
from harness.scoring.parsers import EMPTY, MALFORMED, OK, PARSERS, Parsed, Parser
from harness.scoring.scorers import SCORERS, Scorer

_BARE_ICD10 = re.compile(r"[A-Z][0-9]{2}(?:\.[0-9]{1,2})?")


def choose_code(found: list[FoundCode]) -> Parsed:
    """The answer's code: the only code that is not an asterisk or additional code; several different ones = malformed."""
    if not found:
        return Parsed(None, MALFORMED, "no_code")
    primary = list(dict.fromkeys(f.code for f in found if f.marker not in ("*", "!")))
    if len(primary) > 1:
        return Parsed(None, MALFORMED, "several_codes")
    return Parsed(primary[0] if primary else found[0].code)


REMEMBERED_TEXT_CHARS = 32
"""Answers up to this long (a bare code, a code in a short phrase) are parsed once per distinct text in a column."""
REMEMBERED_TEXTS = 65_536
"""At most this many distinct short answers are remembered per parser."""



def _code_parser(finder: Callable[[str], list[FoundCode]], bare: re.Pattern[str] | None = None) -> Parser:
    def parse(text: str) -> Parsed:
        if bare is not None and bare.fullmatch(text):
            return Parsed(text)  # the answer is exactly one normalised code: what the finder would return
        if not text.strip():
            return Parsed(None, EMPTY, "empty")
        return choose_code(finder(text))

    remembered: dict[str, Parsed] = {}

    def many(texts: list[str]) -> list[Parsed]:
        """Every text parsed; a short one once per distinct text (a run repeats a few thousand codes)."""
        known = remembered.get
        parsed = []
        for text in texts:
            answer = known(text)
            if answer is None:
                answer = parse(text)
                if len(text) <= REMEMBERED_TEXT_CHARS and len(remembered) < REMEMBERED_TEXTS:
                    remembered[text] = answer  # Parsed is frozen: one object may stand for every such answer
            parsed.append(answer)
        return parsed

    parse.many = many  # type: ignore[attr-defined]
    return parse


@PARSERS.register("icd10gm_code")
def icd10gm_code_parser() -> Parser:
    """Tolerant ICD-10-GM code (C61, C61.9, c 61, C34.1 (Oberlappen), markers); reasons empty/no_code/several_codes."""
    return _code_parser(find_icd10_codes, _BARE_ICD10)


@PARSERS.register("icdo3_topography_code")
def icdo3_topography_parser() -> Parser:
    """Tolerant ICD-O-3 topography code (C61.9, C619); reasons empty/no_code/several_codes."""
    return _code_parser(find_topography_codes)


@PARSERS.register("icdo3_morphology_code")
def icdo3_morphology_parser() -> Parser:
    """Tolerant ICD-O-3 morphology code (8140/3, M-8140/3); reasons empty/no_code/several_codes."""
    return _code_parser(find_morphology_codes)


MALFORMED_OUTCOMES = ("empty", "no_code", "several_codes")
ICD10_LEVELS = ("exact", "same_4char", "same_3char", "same_block", "same_chapter")
OUTCOMES = (*MALFORMED_OUTCOMES, "no_think_end", "error", "missing", "hallucinated", "secondary_neoplasm", *ICD10_LEVELS, "valid_wrong")


def _malformed_values(parsed: Parsed, levels: tuple[str, ...]) -> dict[str, Any]:
    outcome = parsed.reason if parsed.reason in MALFORMED_OUTCOMES else parsed.status
    return {"outcome": outcome, "correct": 0, "partial": 0,
            **{level: 0 for level in levels}, "in_catalogue": 0}


Place = tuple[bool, "str | None", "str | None"]
"""A code's place in a catalogue: (in it, its block, its chapter)."""


def _place(catalogue: Any, code: str) -> Place:
    return code in catalogue, catalogue.block_of(code), catalogue.chapter_of(code)


def icd10gm_values(code: str, gold: str, catalogue: Any, primary_expected: bool) -> dict[str, Any]:
    """Hierarchical credit of one ICD-10-GM code against the gold code in one catalogue year."""
    return _hierarchy_values(code, gold, _place(catalogue, code), _place(catalogue, gold), primary_expected)


Flags = tuple[str, bool, bool, bool, bool, bool, bool]
"""(outcome, exact, same_4char, same_3char, same_block, same_chapter, in_catalogue): what a code's values are made of."""


def _hierarchy_values(code: str, gold: str, code_place: Place, gold_place: Place, primary_expected: bool) -> dict[str, Any]:
    return _values_of(_hierarchy_flags(code, gold, code_place, gold_place, primary_expected))


def _hierarchy_flags(code: str, gold: str, code_place: Place, gold_place: Place, primary_expected: bool) -> Flags:
    in_catalogue, block, chapter = code_place
    exact = code == gold
    same_4char = exact or (code[:5] == gold[:5] and len(code) >= 5 and len(gold) >= 5)
    same_3char = code[:3] == gold[:3]
    same_block = block is not None and block == gold_place[1]
    same_chapter = chapter is not None and chapter == gold_place[2]
    if not in_catalogue:
        outcome = "hallucinated"
    elif primary_expected and code[:3] in SECONDARY_NEOPLASMS:
        outcome = "secondary_neoplasm"
    else:  # the finest level of ICD10_LEVELS that holds
        outcome = ("exact" if exact else "same_4char" if same_4char else "same_3char" if same_3char
                   else "same_block" if same_block else "same_chapter" if same_chapter else "valid_wrong")
    return outcome, exact, same_4char, same_3char, same_block, same_chapter, in_catalogue


def _values_of(flags: Flags) -> dict[str, Any]:
    outcome, exact, same_4char, same_3char, same_block, same_chapter, in_catalogue = flags
    return {"outcome": outcome, "correct": int(exact), "partial": int(same_3char), "exact": int(exact),
            "same_4char": int(same_4char), "same_3char": int(same_3char), "same_block": int(same_block),
            "same_chapter": int(same_chapter), "in_catalogue": int(in_catalogue)}


class _RememberedPlacement:
    """A catalogue's answers to "in it?", "which block?", "which chapter?", looked up once per code.

    A run names a few thousand distinct codes across hundreds of thousands of answers.
    """

    def __init__(self, catalogue: Any) -> None:
        self._catalogue = catalogue
        self._places: dict[str, Place] = {}

    def place(self, code: str) -> Place:
        place = self._places.get(code)
        if place is None:
            place = self._places[code] = _place(self._catalogue, code)
        return place

    def __contains__(self, code: str) -> bool:
        return self.place(code)[0]

    def block_of(self, code: str) -> str | None:
        return self.place(code)[1]

    def chapter_of(self, code: str) -> str | None:
        return self.place(code)[2]


@SCORERS.register("icd10gm_hierarchy")
def icd10gm_hierarchy_scorer(year: int, primary_expected: bool = True) -> Scorer:
    """ICD-10-GM against the catalogue of ``year``: exact, 4-char, 3-char (partial), block, chapter, outcome class."""
    from harness.catalogues import load_catalogue

    catalogue = _RememberedPlacement(load_catalogue("icd10gm", year))
    place = catalogue.place

    def score(parsed: Parsed, target: Any) -> dict[str, Any]:
        gold = str(target).strip().upper()
        if not parsed.ok:
            return _malformed_values(parsed, ICD10_LEVELS)
        code = str(parsed.value)
        return _hierarchy_values(code, gold, place(code), place(gold), primary_expected)

    golds: dict[Any, str] = {}
    shared: dict[Any, dict[str, Any]] = {}

    def many(parsed: list[Parsed], targets: list[Any]) -> list[dict[str, Any]]:
        """Every sample's values; each distinct code placed in the catalogue once, each distinct target normalised once,
        and samples with the same values given one dict (a few dozen combinations of outcome and credit exist)."""
        values = []
        for answer, target in zip(parsed, targets):
            gold = golds.get(target) if type(target) is str else None
            if gold is None:
                gold = str(target).strip().upper()
                if type(target) is str and len(golds) < REMEMBERED_TEXTS:
                    golds[target] = gold
            if answer.status != OK:
                # the values name only the outcome (a runner's error message is not part of them)
                key: Any = answer.reason if answer.reason in MALFORMED_OUTCOMES else answer.status
                known = shared.get(key)
                if known is None:
                    known = shared[key] = _malformed_values(answer, ICD10_LEVELS)
            else:
                code = str(answer.value)
                key = _hierarchy_flags(code, gold, place(code), place(gold), primary_expected)
                known = shared.get(key)
                if known is None:
                    known = shared[key] = _values_of(key)
            values.append(known)
        return values

    score.many = many  # type: ignore[attr-defined]
    return score


@SCORERS.register("icdo3_topography_hierarchy")
def icdo3_topography_scorer(year: int = 2019) -> Scorer:
    """ICD-O-3 topography against the catalogue: exact and three-character (partial), outcome class."""
    from harness.catalogues import load_catalogue

    catalogue = load_catalogue("icdo3_topography", year)

    def score(parsed: Parsed, target: Any) -> dict[str, Any]:
        gold = str(target).strip().upper()
        if not parsed.ok:
            return _malformed_values(parsed, ("exact", "same_3char"))
        code = str(parsed.value)
        exact, same3 = code == gold, code[:3] == gold[:3]
        outcome = "hallucinated" if code not in catalogue else "exact" if exact else "same_3char" if same3 else "valid_wrong"
        return {"outcome": outcome, "correct": int(exact), "partial": int(same3),
                "exact": int(exact), "same_3char": int(same3), "in_catalogue": int(code in catalogue)}

    return score


@SCORERS.register("icdo3_morphology_hierarchy")
def icdo3_morphology_scorer(year: int = 2019) -> Scorer:
    """ICD-O-3 morphology: exact, histology without behaviour (partial), behaviour digit only, outcome class."""
    from harness.catalogues import load_catalogue

    catalogue = load_catalogue("icdo3_morphology", year)

    def score(parsed: Parsed, target: Any) -> dict[str, Any]:
        gold = str(target).strip()
        levels = ("exact", "same_histology", "same_behaviour")
        if not parsed.ok:
            return _malformed_values(parsed, levels)
        code = str(parsed.value)
        same = {"exact": code == gold, "same_histology": code[:4] == gold[:4], "same_behaviour": code[-1:] == gold[-1:]}
        if code not in catalogue:
            outcome = "hallucinated"
        else:
            outcome = "exact" if same["exact"] else "same_histology" if same["same_histology"] else "valid_wrong"
        return {"outcome": outcome, "correct": int(same["exact"]), "partial": int(same["same_histology"]),
                **{k: int(v) for k, v in same.items()}, "in_catalogue": int(code in catalogue)}

    return score
