"""ICD-10-GM in ClaML 2.0 (XML): classes, preferred labels and modifier expansion.

Modifiers: a ModifiedBy applies to the class that declares it and to every class below it
(SubClass/SuperClass tree), except below an ExcludeModifier for the same modifier. A modifier
whose classes start with "." supplies the fourth character and so expands three-character codes
("M00" + ".0" -> "M00.0"); other modifiers supply the fifth character and expand four-character
codes ("C90.0" + "0" -> "C90.00"). This shape rule lets one reader handle both placements seen in
practice (the modifier on the four-character class itself, or once on its three-character
parent or block) without trusting the optional `position` attribute, whose counting convention
differs between producers. Fourth-character modifiers run before fifth-character ones, so a
class with both (E10-E14 style) gets the full cross product, minus pairs that a modifier class
rules out with Meta excludeOnPrecedingModifier="<modifier> <code>".

Explicit classes always win over generated ones with the same code; a code is terminal when
no other entry names it as parent.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from harness.catalogues.model import Block, Catalogue, CatalogueEntry, code_level, normalise_code, year_from_name
from harness.errors import OnkobenchError

_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_SPACES = re.compile(r"\s+")


@dataclass(slots=True)
class _Class:
    code: str
    kind: str
    superclass: str | None
    title: str
    modified_by: list[tuple[str, frozenset[str] | None]] = field(default_factory=list)
    excluded: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _ModifierClass:
    code: str
    label: str
    exclude_after: frozenset[str]  # "<modifier> <code>" pairs this class may not follow


@dataclass(slots=True)
class _Draft:
    code: str
    title: str
    parent: str | None
    chapter: str
    block: str


def read_icd10gm_claml(path: Path, year: int | None = None) -> Catalogue:
    """Chapters, blocks and categories of a ClaML file, with modifier-generated codes added."""
    path = Path(path)
    root = _parse(path)
    classes: dict[str, _Class] = {}
    modifiers: dict[str, list[_ModifierClass]] = {}
    for element in root:
        tag = _local(element.tag)
        if tag == "Class":
            item = _read_class(path, element)
            classes[item.code] = item
        elif tag == "ModifierClass":
            modifier, code = element.get("modifier"), element.get("code")
            if not modifier or code is None:
                raise OnkobenchError(f"{path}: ModifierClass without modifier or code attribute")
            excludes = frozenset(
                _SPACES.sub(" ", meta.get("value", "").strip())
                for meta in _children(element, "Meta")
                if meta.get("name") == "excludeOnPrecedingModifier"
            )
            modifiers.setdefault(modifier, []).append(_ModifierClass(code.strip(), _preferred(element), excludes))
    year = _year(path, root, year)

    chapter_of, block_of = _ancestry(path, classes)
    chapters = {c.code: c.title for c in classes.values() if c.kind == "chapter"}
    blocks = _blocks(classes, chapter_of)

    drafts: dict[str, _Draft] = {}
    for item in classes.values():
        if item.kind != "category":
            continue
        code = normalise_code(item.code)
        parent = classes.get(item.superclass or "")
        drafts[code] = _Draft(
            code,
            item.title,
            normalise_code(parent.code) if parent is not None and parent.kind == "category" else None,
            chapter_of[item.code],
            block_of[item.code],
        )
    for item in classes.values():
        if item.kind == "category":
            _expand(path, item, classes, modifiers, drafts)

    parents = {d.parent for d in drafts.values() if d.parent}
    # code order puts generated codes right after their parent, as in the EDV files
    entries = {
        code: CatalogueEntry(code, d.title, code_level(code), code not in parents, d.parent, d.chapter, d.block, year)
        for code, d in sorted(drafts.items())
    }
    return Catalogue("icd10gm", year, entries, blocks, chapters, (str(path),))


def _parse(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else "?"
        raise OnkobenchError(f"{path}: line {line}: not well-formed ClaML XML: {exc}") from exc
    except OSError as exc:
        raise OnkobenchError(f"{path}: cannot read catalogue file: {exc.strerror or exc}") from exc


def _local(tag: str) -> str:
    # tolerate a namespaced ClaML ("{uri}Class") although the published files use none
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _label_text(label: ET.Element) -> str:
    return _SPACES.sub(" ", "".join(label.itertext())).strip()


def _preferred(element: ET.Element) -> str:
    """The German preferred label (preferredLong as a fallback); "" when there is none."""
    for kind in ("preferred", "preferredLong"):
        for rubric in _children(element, "Rubric"):
            if rubric.get("kind") != kind:
                continue
            labels = _children(rubric, "Label")
            if labels:
                german = [label for label in labels if label.get(_LANG, "de") == "de"]
                return _label_text((german or labels)[0])
    return ""


def _read_class(path: Path, element: ET.Element) -> _Class:
    code, kind = element.get("code"), element.get("kind")
    if not code or not kind:
        raise OnkobenchError(f"{path}: Class without code or kind attribute (near {ET.tostring(element)[:80]!r})")
    supers = _children(element, "SuperClass")
    item = _Class(code.strip(), kind.strip(), supers[0].get("code") if supers else None, _preferred(element))
    for modified in _children(element, "ModifiedBy"):
        valid = frozenset(v.get("code", "").strip() for v in _children(modified, "ValidModifierClass"))
        item.modified_by.append((modified.get("code", "").strip(), valid or None))
    item.excluded.update(e.get("code", "").strip() for e in _children(element, "ExcludeModifier"))
    return item


def _year(path: Path, root: ET.Element, year: int | None) -> int:
    if year is not None:
        return year
    for title in _children(root, "Title"):
        version = (title.get("version") or "").strip()
        if version[:4].isdigit():
            return int(version[:4])
    found = year_from_name(path, r"(\d{4})")
    if found is None:
        raise OnkobenchError(f"{path}: no year in the ClaML Title version or the file name; pass year=")
    return found


def _chain(path: Path, classes: dict[str, _Class], code: str) -> list[_Class]:
    """The class and its ancestors, nearest first."""
    chain: list[_Class] = []
    seen: set[str] = set()
    current: str | None = code
    while current is not None and current in classes:
        if current in seen:
            raise OnkobenchError(f"{path}: SuperClass cycle through {current}")
        seen.add(current)
        chain.append(classes[current])
        current = classes[current].superclass
    return chain


def _ancestry(path: Path, classes: dict[str, _Class]) -> tuple[dict[str, str], dict[str, str]]:
    """For every class: its chapter code and the first code of its innermost block."""
    chapter_of: dict[str, str] = {}
    block_of: dict[str, str] = {}
    for code in classes:
        chain = _chain(path, classes, code)
        chapter_of[code] = next((c.code for c in chain if c.kind == "chapter"), "")
        block = next((c.code for c in chain if c.kind == "block"), "")
        block_of[code] = block.split("-", 1)[0]
    return chapter_of, block_of


def _blocks(classes: dict[str, _Class], chapter_of: dict[str, str]) -> dict[str, Block]:
    # nested blocks (C00-C97 > C00-C75 > C00-C14) share a first code; the innermost one is
    # what entries refer to, so blocks without sub-blocks claim their key first
    outer = {c.superclass for c in classes.values() if c.kind == "block"}
    ordered = sorted((c for c in classes.values() if c.kind == "block"), key=lambda c: c.code in outer)
    blocks: dict[str, Block] = {}
    for item in ordered:
        first, _, last = item.code.partition("-")
        blocks.setdefault(first, Block(first, last or first, chapter_of[item.code], item.title or None))
    return blocks


def _effective_modifiers(
    path: Path, item: _Class, classes: dict[str, _Class]
) -> list[tuple[str, frozenset[str] | None]]:
    chain = _chain(path, classes, item.code)
    excluded = set().union(*(c.excluded for c in chain))
    found: dict[str, frozenset[str] | None] = {}
    for ancestor in chain:  # nearest declaration wins
        for code, valid in ancestor.modified_by:
            if code not in excluded:
                found.setdefault(code, valid)
    return list(found.items())


def _expand(
    path: Path,
    item: _Class,
    classes: dict[str, _Class],
    modifiers: dict[str, list[_ModifierClass]],
    drafts: dict[str, _Draft],
) -> None:
    effective = _effective_modifiers(path, item, classes)
    if not effective:
        return
    for code, _ in effective:
        if code not in modifiers:
            raise OnkobenchError(f"{path}: class {item.code} is modified by {code!r}, which has no ModifierClass")
    # fourth-character modifiers (".0") first, then fifth-character ones ("0")
    effective.sort(key=lambda m: not modifiers[m[0]][0].code.startswith("."))
    base = drafts[normalise_code(item.code)]
    frontier: list[tuple[_Draft, tuple[str, ...]]] = [(base, ())]
    for modifier, valid in effective:
        fourth = modifiers[modifier][0].code.startswith(".")
        next_frontier: list[tuple[_Draft, tuple[str, ...]]] = []
        for draft, preceding in frontier:
            # a fourth-character modifier extends three-character codes, a fifth-character one
            # four-character codes; anything else (an explicit C90.00 below a modified C90.0) is left as is
            if code_level(draft.code) != (3 if fourth else 4):
                next_frontier.append((draft, preceding))
                continue
            for mod_class in modifiers[modifier]:
                if valid is not None and mod_class.code not in valid:
                    continue
                if mod_class.exclude_after.intersection(preceding):
                    continue
                code = normalise_code(draft.code + mod_class.code)
                child = drafts.get(code)
                if child is None:
                    child = _Draft(code, f"{draft.title}: {mod_class.label}", draft.code, draft.chapter, draft.block)
                    drafts[code] = child
                next_frontier.append((child, (*preceding, f"{modifier} {mod_class.code}")))
        frontier = next_frontier
