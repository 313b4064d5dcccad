"""Code-like strings in free text: ICD-10(-GM), ICD-O-3 topography and morphology, normalised."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# letter, two digits, optional ".d", ".dd" or ".-", optional dagger/star/exclamation marker
_ICD10 = re.compile(r"(?<![A-Za-z0-9])([A-Za-z])\s?(\d{2})(?:\s?\.\s?(\d{1,2}|-))?(?![0-9])\s?([†*!+])?")
_TOPOGRAPHY = re.compile(r"(?<![A-Za-z0-9])[Cc]\s?(\d{2})(?:\s?\.\s?(\d)|(\d))?(?![0-9])")
_MORPHOLOGY = re.compile(r"(?<![0-9])(?:M\s?-?\s?)?(\d{4})\s?/\s?(\d)(?![0-9])")


@dataclass(frozen=True, slots=True)
class FoundCode:
    code: str
    marker: str = ""
    """"†" primary of a dagger/asterisk pair, "*" asterisk (manifestation), "!" additional code."""


def find_icd10_codes(text: str) -> list[FoundCode]:
    """ICD-10-style codes in text order, normalised: ``c 61`` -> C61, ``C61.-`` -> C61, ``E14.30†`` -> E14.30."""
    found = []
    for match in _ICD10.finditer(text):
        letter, digits, sub, marker = match.groups()
        code = f"{letter.upper()}{digits}" + (f".{sub}" if sub and sub != "-" else "")
        found.append(FoundCode(code, marker or ""))
    return found


def find_topography_codes(text: str) -> list[FoundCode]:
    """ICD-O-3 topography codes: ``C61.9``, ``C 61.9``, ``C619`` -> C61.9; a bare ``C61`` stays three characters."""
    return [FoundCode(f"C{d}" + (f".{s or t}" if s or t else "")) for d, s, t in _TOPOGRAPHY.findall(text)]


def find_morphology_codes(text: str) -> list[FoundCode]:
    """ICD-O-3 morphology codes: ``8140/3``, ``M-8140/3``, ``8140 / 3`` -> 8140/3."""
    return [FoundCode(f"{h}/{b}") for h, b in _MORPHOLOGY.findall(text)]


def first_icd10_code(text: object) -> str | None:
    """The first ICD-10 code in a text (for gold answers written as sentences), or None."""
    found = find_icd10_codes(str(text)) if text is not None else []
    return found[0].code if found else None


SECONDARY_NEOPLASMS = frozenset({"C77", "C78", "C79"})
"""ICD-10 categories of secondary (metastatic) neoplasms: never the code of a primary tumour."""


def is_neoplasm(code: str) -> bool:
    """ICD-10 chapter II (neoplasms): C00-D48."""
    return code[:1] == "C" or (code[:1] == "D" and code[1:3].isdigit() and int(code[1:3]) <= 48)


OWN_HISTORY_MALIGNANT = ("Z85",)
"""Personal history of a malignant neoplasm: a (past) tumour diagnosis of the patient (the history rule in
tasks/icd_catalogue_qa/README.md)."""
NOT_A_TUMOUR_DIAGNOSIS = {"Z80": "family_history", "Z12": "screening", "Z03.1": "suspected_only"}
"""Tumour-related codes that assert no tumour of the patient: labelled "Nein" (named in the manifest counts)."""
AMBIGUOUS_TUMOUR_CONTEXT = ("Z08", "Z51.1", "Z51.82", "Z86.0", "Z92.6")
"""Codes that presuppose a tumour of the patient without diagnosing one (follow-up, therapy sessions or
history of cytostatics, other neoplasms in the history): neither label is safe, so such rows are dropped."""


def _has(codes: list[str], prefixes: Iterable[str]) -> str | None:
    return next((p for p in prefixes for code in codes if code.startswith(p)), None)


def recognition_label(codes: list[str]) -> tuple[str | None, str]:
    """("Ja" / "Nein" / None for dropped, the rule that decided) for the codes of one Alpha-ID row.

    Shared by the set builder (gold labels) and the catalogue oracle baseline, so both apply one rule."""
    if any(is_neoplasm(code) for code in codes):
        return "Ja", "chapter_ii_code"
    if _has(codes, OWN_HISTORY_MALIGNANT):
        return "Ja", "own_history_malignant_Z85"
    if _has(codes, AMBIGUOUS_TUMOUR_CONTEXT):
        return None, "ambiguous_tumour_context"
    found = _has(codes, NOT_A_TUMOUR_DIAGNOSIS)
    if found:
        return "Nein", f"{NOT_A_TUMOUR_DIAGNOSIS[found]}_{found}"
    return "Nein", "other_diagnosis"
