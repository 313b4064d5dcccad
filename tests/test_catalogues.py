"""Catalogue parsers: hand-written fixtures in the publishers' formats, and the real files when present.

The real files (../shared/data/catalogues or $ONKOBENCH_CATALOGUE_DIR) are never part of the
repository; tests on them skip when they are absent.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path

import pytest

from harness.catalogues import (
    AlphaIdEntry,
    Block,
    Catalogue,
    catalogue_root,
    category_code,
    clear_cache,
    find_files,
    load_alphaid,
    load_catalogue,
    normalise_code,
    read_alphaid,
    read_icd10gm_claml,
    read_icd10gm_edv,
    read_icdo3_morphology,
    read_icdo3_topography,
    read_ops_edv,
)
from harness.catalogues import locate
from harness.errors import OnkobenchError

from support.files import CATALOGUE_FIXTURES, real_catalogue_root

FIX = CATALOGUE_FIXTURES
ICD = FIX / "icd10gm" / "2099"
KODES = ICD / "icd10gm2099syst_kodes.txt"
GRUPPEN = ICD / "icd10gm2099syst_gruppen.txt"
KAPITEL = ICD / "icd10gm2099syst_kapitel.txt"
CLAML = FIX / "claml" / "icd10gm2099syst_claml_fixture.xml"
ALPHA_NEW = FIX / "alphaid" / "2099" / "icd10gm2099alpha_edvtxt_20981001.txt"
ALPHA_OLD = FIX / "alphaid" / "2098" / "icd10gm2098alpha_edv_ascii_20971030.txt"
TOPO = FIX / "icdo3" / "2099" / "topographie.csv"
MORPH = FIX / "icdo3" / "2099" / "morphologie.csv"
OPS_DOC = FIX / "ops" / "2099" / "ops2099syst_kodes.txt"
OPS_BFARM = FIX / "ops" / "2098" / "ops2098syst_kodes.txt"


@pytest.fixture
def real_root() -> Path:
    root = real_catalogue_root()
    if root is None:
        pytest.skip("real catalogue files absent: set ONKOBENCH_CATALOGUE_DIR or provide ../shared/data/catalogues")
    return root


def variant(tmp_path: Path, source: Path, *, encoding: str = "utf-8", crlf: bool = False, bom: bool = False, sub: str = "v") -> Path:
    """A copy of a UTF-8 (or latin-1) fixture under the same file name, re-encoded."""
    data = source.read_bytes()
    text = data.decode("utf-8-sig") if data.startswith(b"\xef\xbb\xbf") else _decode(data)
    text = text.replace("\r\n", "\n")
    if crlf:
        text = text.replace("\n", "\r\n")
    out = tmp_path / sub / source.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return out


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --- codes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("C61", "C61"),
        ("A00.-", "A00"),
        ("C90.0-", "C90.0"),
        ("E14.30†", "E14.30"),
        ("A01.0+", "A01.0"),
        ("G13.0*", "G13.0"),
        ("U61.2!", "U61.2"),
        (" M01.-* ", "M01"),
        ("5-601.0", "5-601.0"),
        ("8140/3", "8140/3"),
    ],
)
def test_normalise_code(raw: str, expected: str) -> None:
    assert normalise_code(raw) == expected


def test_category_code() -> None:
    assert category_code("C34.9x") == "C34"
    assert category_code("C90.00") == "C90"
    assert category_code("5-601.10") == "5-60"


# --- ICD-10-GM EDV ----------------------------------------------------------------------------


@pytest.fixture
def icd() -> Catalogue:
    return read_icd10gm_edv(KODES, GRUPPEN, KAPITEL)


def test_edv_entries_levels_parents_terminals(icd: Catalogue) -> None:
    assert icd.system == "icd10gm" and icd.year == 2099
    assert len(icd.entries) == 22
    c34 = icd.get("C34")
    assert c34 is not None and (c34.level, c34.terminal, c34.parent) == (3, False, None)
    c341 = icd.entries["C34.1"]
    assert (c341.level, c341.terminal, c341.parent, c341.chapter, c341.block) == (4, True, "C34", "02", "C30")
    assert c341.title == "Bösartige Neubildung von Bronchus und Lunge: Oberlappen der Lunge"
    c9000 = icd.entries["C90.00"]
    assert (c9000.level, c9000.terminal, c9000.parent) == (5, True, "C90.0")
    assert icd.entries["C90.0"].terminal is False
    assert icd.entries["C61"].terminal is True and icd.entries["C61"].parent is None
    assert icd.sources == (str(KODES), str(GRUPPEN), str(KAPITEL))


def test_edv_markers_are_stripped_from_codes(icd: Catalogue) -> None:
    # column 6 carries "G13.0*", "U61.-!", "C90.0-"; entries are keyed by the clean code
    assert "G13.0" in icd and "G13.0*" in icd
    assert icd.get("U61.1!").code == "U61.1"
    assert "C90.0-" in icd and "C34.-" in icd
    assert not any(ch in code for code in icd.entries for ch in "*!†+-")


def test_edv_lookups(icd: Catalogue) -> None:
    assert icd.category("C34.9x").code == "C34"
    assert icd.category("C90.01").code == "C90"
    assert icd.category("Z99.9") is None
    assert icd.block_of("C34.1") == "C30"
    assert icd.block_of("C34.7") == "C30"  # not in the catalogue: its category's block
    assert icd.block_of("Z99") is None
    assert icd.chapter_of("U61.1!") == "22"
    assert icd.chapter_of("C90.8") == "02"
    assert icd.terminal_codes()[:4] == ["C34.0", "C34.1", "C34.9", "C61"]
    assert len(icd.terminal_codes()) == 15


def test_edv_blocks_and_chapters(icd: Catalogue) -> None:
    assert icd.blocks["C81"] == Block("C81", "C96", "02", "Bösartige Neubildungen des lymphatischen und blutbildenden Gewebes")
    assert set(icd.blocks) == {"C30", "C60", "C73", "C81", "G10", "U60"}
    assert {e.block for e in icd.entries.values()} <= set(icd.blocks)
    assert dict(icd.chapters) == {
        "02": "Neubildungen (Tumoren)",
        "06": "Erkrankungen des Nervensystems",
        "22": "Schlüssel für besondere Zwecke",
    }


def test_edv_blocks_without_gruppen_come_from_the_block_column() -> None:
    cat = read_icd10gm_edv(KODES)
    assert cat.blocks["C81"] == Block("C81", None, "02", None)
    assert set(cat.blocks) == {"C30", "C60", "C73", "C81", "G10", "U60"}
    assert dict(cat.chapters) == {}


def test_edv_encodings_and_line_ends_parse_alike(tmp_path: Path, icd: Catalogue) -> None:
    for n, options in enumerate(
        [dict(crlf=True), dict(bom=True), dict(encoding="latin-1"), dict(encoding="latin-1", crlf=True), dict(bom=True, crlf=True)]
    ):
        sub = f"v{n}"
        other = read_icd10gm_edv(
            variant(tmp_path, KODES, sub=sub, **options),
            variant(tmp_path, GRUPPEN, sub=sub, **options),
            variant(tmp_path, KAPITEL, sub=sub, **options),
        )
        assert other.entries == icd.entries, options
        assert other.blocks == icd.blocks and other.chapters == icd.chapters


def test_edv_broken_line_names_file_and_line(tmp_path: Path) -> None:
    lines = KODES.read_text(encoding="utf-8").splitlines()
    lines[2] = "4;T;X;02;C30;C34.1"
    path = write(tmp_path, KODES.name, "\n".join(lines) + "\n")
    with pytest.raises(OnkobenchError, match=r"icd10gm2099syst_kodes\.txt: line 3: expected at least 9 fields"):
        read_icd10gm_edv(path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("7;T;X;02;C60;C61;C61;C61;Titel", "level"),
        ("3;Y;X;02;C60;C61;C61;C61;Titel", "terminal flag"),
        ("3;T;X;02;C60;;;C61;Titel", "empty code"),
    ],
)
def test_edv_bad_values(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "icd10gm2099syst_kodes.txt", "3;T;X;02;C30;C33;C33;C33;Titel\n\n" + line + "\n")
    with pytest.raises(OnkobenchError, match=rf"line 3: {message}"):
        read_icd10gm_edv(path)


def test_edv_duplicate_and_marker_in_normcode(tmp_path: Path) -> None:
    path = write(tmp_path, "icd10gm2099syst_kodes.txt", "3;T;X;02;C60;C61;C61*;C61;Titel\n")
    assert list(read_icd10gm_edv(path).entries) == ["C61"]
    path = write(tmp_path, "icd10gm2099syst_kodes.txt", "3;T;X;02;C60;C61;C61;C61;A\n3;T;X;02;C60;C61;C61;C61;B\n")
    with pytest.raises(OnkobenchError, match="line 2: duplicate code C61"):
        read_icd10gm_edv(path)


def test_edv_year_from_name_or_argument(tmp_path: Path) -> None:
    path = write(tmp_path, "kodes.txt", KODES.read_text(encoding="utf-8"))
    with pytest.raises(OnkobenchError, match="kodes.txt: cannot tell the catalogue year"):
        read_icd10gm_edv(path)
    assert read_icd10gm_edv(path, year=2031).entries["C61"].year == 2031


def test_edv_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(OnkobenchError, match="cannot read catalogue file"):
        read_icd10gm_edv(tmp_path / "icd10gm2099syst_kodes.txt")


def test_catalogue_is_read_only(icd: Catalogue) -> None:
    with pytest.raises(TypeError):
        icd.entries["X00"] = icd.entries["C61"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        icd.entries["C61"].title = "x"  # type: ignore[misc]
    assert "entries=22" in repr(icd)
    assert {icd: 1}[icd] == 1  # hashable although its mappings are not


# --- ICD-10-GM ClaML --------------------------------------------------------------------------


@pytest.fixture
def claml() -> Catalogue:
    return read_icd10gm_claml(CLAML)


def test_claml_chapters_blocks_categories(claml: Catalogue) -> None:
    assert claml.system == "icd10gm" and claml.year == 2099  # year from <Title version=...>
    assert dict(claml.chapters) == {"02": "Neubildungen", "04": "Stoffwechselkrankheiten"}
    assert claml.blocks["C30"] == Block("C30", "C39", "02", "Bösartige Neubildungen der Atmungsorgane")
    assert claml.blocks["C81"].last == "C96"
    # the outer block C00-C97 shares its first code with no inner block here, so it stays listed
    assert claml.blocks["C00"].last == "C97"
    c34 = claml.entries["C34"]
    assert (c34.level, c34.terminal, c34.parent, c34.chapter, c34.block) == (3, False, None, "02", "C30")
    assert claml.entries["C34.0"].parent == "C34" and claml.entries["C34.0"].terminal
    assert claml.entries["C34.9"].title == "Bronchus oder Lunge, ohne nähere Angabe"  # <Fragment> text kept
    assert claml.entries["C61"].terminal and claml.entries["C61"].block == "C60"


def test_claml_fifth_character_modifier_and_exclusion(claml: Catalogue) -> None:
    generated = [code for code in claml.entries if code.startswith("C90.") and len(code) == 6]
    assert generated == ["C90.00", "C90.01", "C90.10", "C90.11"]
    c9001 = claml.entries["C90.01"]
    assert (c9001.level, c9001.terminal, c9001.parent, c9001.block, c9001.chapter) == (5, True, "C90.0", "C81", "02")
    assert c9001.title == "Multiples Myelom: In Remission"
    assert claml.entries["C90.0"].terminal is False and claml.entries["C90"].terminal is False
    # ExcludeModifier on C90.2 blocks the inherited modifier
    assert claml.entries["C90.2"].terminal is True and "C90.20" not in claml


def test_claml_fourth_and_fifth_character_modifiers(claml: Catalogue) -> None:
    e10 = sorted(code for code in claml.entries if code.startswith("E10"))
    # excludeOnPrecedingModifier drops the fifth character 0 after the fourth character .0
    assert e10 == ["E10", "E10.0", "E10.01", "E10.1", "E10.10", "E10.11", "E10.9", "E10.90", "E10.91"]
    assert claml.entries["E10.0"].terminal is False and claml.entries["E10.0"].level == 4
    assert claml.entries["E10.91"].title == "Diabetes mellitus, Typ 1: Ohne Komplikationen: Entgleist"
    assert claml.entries["E10.91"].parent == "E10.9"
    assert claml.block_of("E10.91") == "E10" and claml.chapter_of("E10.91") == "04"


def test_claml_agrees_with_edv_on_shared_codes(claml: Catalogue, icd: Catalogue) -> None:
    for code in ("C34", "C34.0", "C61", "C90", "C90.0", "C90.00", "C90.01", "C90.11"):
        a, b = claml.entries[code], icd.entries[code]
        assert (a.level, a.terminal, a.parent, a.chapter, a.block) == (b.level, b.terminal, b.parent, b.chapter, b.block), code


CLAML_DIRECT = """<?xml version="1.0" encoding="UTF-8"?>
<ClaML version="2.0.0">
  <Title name="ICD-10-GM" version="2099">t</Title>
  <ModifierClass modifier="R5" code="0"><Rubric kind="preferred"><Label xml:lang="de">null</Label></Rubric></ModifierClass>
  <ModifierClass modifier="R5" code="1"><Rubric kind="preferred"><Label xml:lang="de">eins</Label></Rubric></ModifierClass>
  <ModifierClass modifier="L4" code=".0"><Rubric kind="preferred"><Label xml:lang="de">links</Label></Rubric></ModifierClass>
  <ModifierClass modifier="L4" code=".1"><Rubric kind="preferred"><Label xml:lang="de">rechts</Label></Rubric></ModifierClass>
  <Class code="II" kind="chapter"><Rubric kind="preferred"><Label xml:lang="de">Kapitel</Label></Rubric></Class>
  <Class code="C81-C96" kind="block"><SuperClass code="II"/></Class>
  <Class code="C90" kind="category"><SuperClass code="C81-C96"/><SubClass code="C90.0"/>
    <Rubric kind="preferred"><Label xml:lang="en">English</Label><Label xml:lang="de">Deutsch</Label></Rubric></Class>
  <Class code="C90.0" kind="category"><SuperClass code="C90"/>
    <ModifiedBy code="R5" all="false"><ValidModifierClass code="1"/></ModifiedBy>
    <Rubric kind="preferred"><Label xml:lang="de">Myelom</Label></Rubric></Class>
  <Class code="M00" kind="category"><SuperClass code="C81-C96"/><ModifiedBy code="L4"/>
    <Rubric kind="preferred"><Label xml:lang="de">Arthritis</Label></Rubric></Class>
</ClaML>
"""


def test_claml_modifier_on_the_class_itself_with_valid_classes(tmp_path: Path) -> None:
    cat = read_icd10gm_claml(write(tmp_path, "x.xml", CLAML_DIRECT))
    assert cat.year == 2099
    assert "C90.01" in cat and "C90.00" not in cat  # ValidModifierClass restricts
    assert cat.entries["C90"].title == "Deutsch"
    assert dict(cat.chapters) == {"II": "Kapitel"}  # chapter code kept as given
    assert cat.entries["C90.01"].chapter == "II"
    # a ".0"-style modifier on a three-character category supplies the fourth character
    assert [c for c in cat.entries if c.startswith("M00")] == ["M00", "M00.0", "M00.1"]
    assert cat.entries["M00.1"].title == "Arthritis: rechts" and cat.entries["M00.1"].level == 4
    assert cat.blocks["C81"] == Block("C81", "C96", "II", None)


def test_claml_errors_name_file_and_line(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.xml", '<?xml version="1.0"?>\n<ClaML>\n  <Class code="C61" kind="category">\n</ClaML>\n')
    with pytest.raises(OnkobenchError, match=r"broken\.xml: line 4: not well-formed"):
        read_icd10gm_claml(broken, year=2099)
    unknown = write(tmp_path, "unknown.xml", CLAML_DIRECT.replace('code="L4"/>', 'code="Q9"/>'))
    with pytest.raises(OnkobenchError, match=r"unknown\.xml: class M00 is modified by 'Q9'"):
        read_icd10gm_claml(unknown)


# --- Alpha-ID ---------------------------------------------------------------------------------


def test_alphaid_new_layout() -> None:
    rows = read_alphaid(ALPHA_NEW)
    assert len(rows) == 12 and {r.year for r in rows} == {2099}
    by_id = {r.alpha_id: r for r in rows}
    assert by_id["I90001"] == AlphaIdEntry("1", "I90001", True, "C61", "C61", None, None, None, "Prostatakarzinom", 2099)
    assert by_id["I90002"].printable is False
    dagger = by_id["I90006"]
    assert (dagger.primary, dagger.primary_raw, dagger.asterisk) == ("C80.9", "C80.9†", "G13.0")
    two = by_id["I90008"]
    assert (two.additional, two.additional2) == ("U69.10", "U69.11")
    only_additional = by_id["I90009"]
    assert (only_additional.kind, only_additional.primary, only_additional.additional) == ("5", None, "U61.9")
    assert by_id["I90010"].primary is None and by_id["I90010"].text == "Krebs - s.a. Neubildung, bösartig"


def test_alphaid_old_layout_latin1() -> None:
    rows = read_alphaid(ALPHA_OLD)
    assert len(rows) == 13 and {r.year for r in rows} == {2098}
    assert all(r.additional2 is None for r in rows)
    by_text = {r.text: r for r in rows}
    assert by_text["Karzinom der Schilddrüse"].primary == "C73"
    dagger = by_text["Paraneoplastische Polyneuropathie bei Tumorleiden"]
    assert (dagger.kind, dagger.primary, dagger.primary_raw, dagger.asterisk) == ("2", "C80.9", "C80.9+", "G13.0")
    assert by_text["HIV-Krankheit mit mehr als 500 Helferzellen"].additional == "U61.1"
    assert by_text["Myelom, Schlüssel mit Strich"].primary == "C90.0"
    # one Alpha-ID, two rows: the cross-reference and its coded twin
    assert [r.kind for r in rows if r.alpha_id == "20009"] == ["0", "5"]


def test_alphaid_latin1_and_utf8_parse_alike(tmp_path: Path) -> None:
    reference = read_alphaid(ALPHA_OLD)
    assert read_alphaid(variant(tmp_path, ALPHA_OLD, sub="u")) == reference
    assert read_alphaid(variant(tmp_path, ALPHA_OLD, sub="b", bom=True, crlf=False)) == reference
    # and the new-layout UTF-8 fixture re-encoded as latin-1 ("†" has no latin-1 byte, so drop it first)
    text = ALPHA_NEW.read_text(encoding="utf-8").replace("†", "+")
    utf8 = write(tmp_path, ALPHA_NEW.name, text)
    (tmp_path / "l").mkdir()
    latin1 = write(tmp_path / "l", ALPHA_NEW.name, text, encoding="latin-1")
    assert read_alphaid(latin1) == read_alphaid(utf8)


def test_alphaid_new_layout_with_semicolons_and_trailing_separator(tmp_path: Path) -> None:
    text = ALPHA_NEW.read_text(encoding="utf-8")
    semicolons = "".join(line.replace("|", ";") + ";\r\n" for line in text.splitlines())
    assert read_alphaid(write(tmp_path, ALPHA_NEW.name, semicolons)) == read_alphaid(ALPHA_NEW)


def test_alphaid_short_line_names_file_and_line(tmp_path: Path) -> None:
    lines = ALPHA_OLD.read_bytes().decode("latin-1").splitlines()
    lines.insert(4, "")  # blank lines are skipped but still counted
    lines[6] = "1;99999;1;C61"
    path = write(tmp_path, ALPHA_OLD.name, "\n".join(lines) + "\n", encoding="latin-1")
    with pytest.raises(OnkobenchError, match=r"icd10gm2098alpha_edv_ascii_20971030\.txt: line 7: expected at least 7 fields"):
        read_alphaid(path)


def test_alphaid_unknown_layout_and_bad_flag(tmp_path: Path) -> None:
    with pytest.raises(OnkobenchError, match="cannot tell the Alpha-ID layout: most lines have 4 fields"):
        read_alphaid(write(tmp_path, "a.txt", "1;2;1;C61\n1;3;1;C62\n"))
    with pytest.raises(OnkobenchError, match="line 2: print flag"):
        read_alphaid(write(tmp_path, "b.txt", "1;2;1;C61;;;Text;\n1;3;J;C61;;;Text;\n"))
    assert read_alphaid(write(tmp_path, "c.txt", "\n\n")) == []
    assert read_alphaid(write(tmp_path, "d.txt", "1;2;1;C61;;;Text;\n"))[0].year is None


# --- ICD-O-3 ----------------------------------------------------------------------------------


def test_icdo3_topography() -> None:
    topo = read_icdo3_topography(TOPO)
    assert (topo.system, topo.year, len(topo)) == ("icdo3_topography", 2019, 11)
    c619 = topo.entries["C61.9"]
    assert (c619.title, c619.level, c619.terminal, c619.parent, c619.chapter, c619.block) == ("Prostatadrüse", 4, True, "C61", "", "")
    assert topo.get("C42.1").title == "Knochenmark"  # empty istPaarig is fine
    assert topo.category("C61.9") is None  # the table has no three-character entries


def test_icdo3_morphology() -> None:
    morph = read_icdo3_morphology(MORPH, year=2099)
    assert (morph.system, morph.year, len(morph)) == ("icdo3_morphology", 2099, 12)
    adeno = morph.entries["8140/3"]
    assert (adeno.title, adeno.level, adeno.terminal, adeno.parent) == ("Adenokarzinom, ohne nähere Angabe", 5, True, "8140")
    assert morph.entries["8139/9"].title == ""  # listed without a name, kept as in the file


def test_icdo3_encodings_alike(tmp_path: Path) -> None:
    # the fixtures carry a BOM: if it were not stripped, the first column ("code") would be missing
    reference = read_icdo3_morphology(MORPH)
    for n, options in enumerate([dict(), dict(encoding="latin-1"), dict(crlf=True, bom=True)]):
        assert read_icdo3_morphology(variant(tmp_path, MORPH, sub=f"m{n}", **options)).entries == reference.entries
    assert read_icdo3_topography(variant(tmp_path, TOPO, encoding="latin-1", crlf=True)).entries == read_icdo3_topography(TOPO).entries


def test_icdo3_missing_header_column_is_named(tmp_path: Path) -> None:
    text = TOPO.read_text(encoding="utf-8-sig").replace("id;code;name;id3;", "id;code;name;id_3;", 1)
    with pytest.raises(OnkobenchError, match=r"topographie\.csv: line 1: missing column 'id3'"):
        read_icdo3_topography(write(tmp_path, TOPO.name, text))
    text = MORPH.read_text(encoding="utf-8-sig").replace("histologie", "histology", 1)
    with pytest.raises(OnkobenchError, match="missing column 'histologie'"):
        read_icdo3_morphology(write(tmp_path, MORPH.name, text))


def test_icdo3_short_line_and_duplicate(tmp_path: Path) -> None:
    lines = MORPH.read_text(encoding="utf-8-sig").splitlines()
    with pytest.raises(OnkobenchError, match=r"morphologie\.csv: line 4: expected 5 fields"):
        read_icdo3_morphology(write(tmp_path, MORPH.name, "\n".join(lines[:3] + ["8001/3;3;Kurz"]) + "\n"))
    with pytest.raises(OnkobenchError, match="line 3: duplicate code 8000/0"):
        read_icdo3_morphology(write(tmp_path, MORPH.name, "\n".join(lines[:2] + lines[1:2]) + "\n"))
    with pytest.raises(OnkobenchError, match="empty file"):
        read_icdo3_topography(write(tmp_path, TOPO.name, "\n"))


# --- OPS --------------------------------------------------------------------------------------


def test_ops_documented_layout() -> None:
    ops = read_ops_edv(OPS_DOC)
    assert (ops.system, ops.year, len(ops)) == ("ops", 2099, 16)
    leaf = ops.entries["5-601.10"]
    assert (leaf.title, leaf.level, leaf.terminal, leaf.parent, leaf.chapter, leaf.block) == (
        "Vaporisation", 6, True, "5-601.1", "5", "5-60")
    assert ops.entries["5-601.1"].terminal is False and ops.entries["5-601.1"].title == "Laserverfahren"
    four = ops.entries["5-601"]
    assert (four.level, four.parent, four.title) == (4, "5-60", "Transurethrale Exzision und Destruktion von Prostatagewebe")
    assert ops.entries["8-542.1"].chapter == "8" and ops.block_of("8-542.1") == "8-54"
    assert ops.block_of("5-324.9") is None  # unknown code, and no three-character entry to fall back to
    assert [c for c in ops.terminal_codes() if c.startswith("8-")] == ["8-522.9", "8-542.1", "8-542.2"]


def test_ops_bfarm_layout_reads_the_same() -> None:
    documented = read_ops_edv(OPS_DOC)
    bfarm = read_ops_edv(OPS_BFARM)
    assert bfarm.year == 2098
    assert {c: dataclasses.replace(e, year=2099) for c, e in bfarm.entries.items()} == dict(documented.entries)


def test_ops_errors(tmp_path: Path) -> None:
    with pytest.raises(OnkobenchError, match=r"ops2099syst_kodes\.txt: line 1: expected at least 8 fields"):
        read_ops_edv(write(tmp_path, "ops2099syst_kodes.txt", "5;T;X;5;5-60;5-601.0\n"))
    with pytest.raises(OnkobenchError, match="line 2: terminal flag"):
        read_ops_edv(write(tmp_path, "ops2099syst_kodes.txt", "5;T;X;5;5-60;5-601.0;56010;A;B;C\n5;Q;X;5;5-60;5-601.1;56011;A;B;C\n"))
    with pytest.raises(OnkobenchError, match="line 1: column 6 must hold an OPS code"):
        read_ops_edv(write(tmp_path, "ops2099syst_kodes.txt", "5;T;X;5;5-60;56010;56010;A;B;C\n"))
    with pytest.raises(OnkobenchError, match="cannot tell the catalogue year"):
        read_ops_edv(write(tmp_path, "kodes.txt", "5;T;X;5;5-60;5-601.0;56010;A;B;C\n"))


# --- locating and caching ---------------------------------------------------------------------


def test_find_files_in_the_fixture_layout() -> None:
    assert find_files("icd10gm", 2099, FIX) == {"kodes": KODES, "gruppen": GRUPPEN, "kapitel": KAPITEL}
    assert find_files("alphaid", 2099, FIX) == {"alphaid": ALPHA_NEW}
    assert find_files("icdo3", 2099, FIX) == {"topography": TOPO, "morphology": MORPH}
    assert find_files("icdo3_morphology", 2099, FIX) == {"morphology": MORPH}
    assert find_files("ops", 2099, FIX) == {"kodes": OPS_DOC}
    with pytest.raises(OnkobenchError, match="no icd10gm catalogue for 1999"):
        find_files("icd10gm", 1999, FIX)
    with pytest.raises(OnkobenchError, match="unknown catalogue system 'icd9'"):
        find_files("icd9", 2099, FIX)


def test_find_files_reports_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "icdo3" / "2099").mkdir(parents=True)
    shutil.copy(TOPO, tmp_path / "icdo3" / "2099")
    assert find_files("icdo3_topography", 2099, tmp_path) == {"topography": tmp_path / "icdo3" / "2099" / TOPO.name}
    with pytest.raises(OnkobenchError, match="catalogue file missing: .*morphologie.csv"):
        find_files("icdo3_morphology", 2099, tmp_path)


def test_load_catalogue_is_cached_until_a_file_changes(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    shutil.copytree(FIX / "icd10gm", root / "icd10gm")
    first = load_catalogue("icd10gm", 2099, root)
    assert load_catalogue("icd10gm", 2099, root) is first
    assert len(first) == 22 and set(first.blocks) >= {"C81"} and "02" in first.chapters
    kodes = root / "icd10gm" / "2099" / KODES.name
    kodes.write_text(kodes.read_text(encoding="utf-8") + "3;T;X;02;C73;C74;C74;C74;Nebenniere\n", encoding="utf-8")
    stat = kodes.stat()
    os.utime(kodes, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = load_catalogue("icd10gm", 2099, root)
    assert second is not first and "C74" in second
    clear_cache()
    assert load_catalogue("icd10gm", 2099, root) is not second


def test_load_catalogue_other_systems_and_claml_fallback(tmp_path: Path) -> None:
    assert load_catalogue("ops", 2099, FIX).get("5-604.4").title == "Laparoskopisch"
    assert load_catalogue("icdo3_topography", 2099, FIX).year == 2099
    assert "8140/3" in load_catalogue("icdo3_morphology", 2099, FIX)
    with pytest.raises(OnkobenchError, match="unknown catalogue system 'alphaid'"):
        load_catalogue("alphaid", 2099, FIX)
    (tmp_path / "icd10gm" / "2099").mkdir(parents=True)
    shutil.copy(CLAML, tmp_path / "icd10gm" / "2099")
    assert find_files("icd10gm", 2099, tmp_path) == {"claml": tmp_path / "icd10gm" / "2099" / CLAML.name}
    assert "C90.01" in load_catalogue("icd10gm", 2099, tmp_path)
    (tmp_path / "icd10gm" / "2098").mkdir()
    with pytest.raises(OnkobenchError, match="neither icd10gm2098syst_kodes.txt nor a \\*claml\\*.xml"):
        find_files("icd10gm", 2098, tmp_path)


def test_load_alphaid_cached_but_each_caller_gets_its_own_list() -> None:
    first = load_alphaid(2099, FIX)
    second = load_alphaid(2099, FIX)
    assert first == second and first is not second and first[0] is second[0]
    first.clear()
    assert len(load_alphaid(2099, FIX)) == 12
    assert load_alphaid(2098, FIX)[0].year == 2098


def test_catalogue_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ONKOBENCH_CATALOGUE_DIR", str(FIX))
    assert catalogue_root() == FIX
    assert load_catalogue("ops", 2099).year == 2099  # root=None uses the environment
    monkeypatch.setenv("ONKOBENCH_CATALOGUE_DIR", str(tmp_path / "missing"))
    with pytest.raises(OnkobenchError, match="ONKOBENCH_CATALOGUE_DIR=.*missing is not a directory"):
        catalogue_root()
    monkeypatch.delenv("ONKOBENCH_CATALOGUE_DIR")
    monkeypatch.setattr(locate, "default_root", lambda: tmp_path / "none")
    with pytest.raises(OnkobenchError, match="no catalogue files: set ONKOBENCH_CATALOGUE_DIR"):
        catalogue_root()


def test_default_root_is_next_to_the_repository() -> None:
    assert locate.default_root() == Path(__file__).resolve().parents[1].parent / "shared" / "data" / "catalogues"


# --- real files (skipped when absent) ---------------------------------------------------------


def test_real_icd10gm_2024(real_root: Path) -> None:
    kodes = find_files("icd10gm", 2024, real_root)["kodes"]
    started = time.perf_counter()
    cat = read_icd10gm_edv(kodes)
    seconds = time.perf_counter() - started
    print(f"ICD-10-GM 2024 kodes: {len(cat)} entries parsed in {seconds * 1000:.0f} ms")
    assert len(cat.entries) == 16_793
    assert len(cat.terminal_codes()) == 14_290
    assert {e.level for e in cat.entries.values()} == {3, 4, 5}
    assert cat.entries["C90.00"].parent == "C90.0" and cat.entries["C90.00"].terminal
    assert cat.entries["C61"].terminal and cat.block_of("C34.1") == "C30" and cat.chapter_of("C61") == "02"
    assert len(cat.blocks) == 243
    started = time.perf_counter()
    load_catalogue("icd10gm", 2024, real_root)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    load_catalogue("icd10gm", 2024, real_root)
    print(f"load_catalogue icd10gm 2024: first {cold * 1000:.0f} ms, cached {(time.perf_counter() - started) * 1e6:.0f} µs")


def test_real_icd10gm_2017_and_year_differences(real_root: Path) -> None:
    c2017 = load_catalogue("icd10gm", 2017, real_root)
    c2024 = load_catalogue("icd10gm", 2024, real_root)
    assert len(c2017.entries) == 15_930 and len(c2017.terminal_codes()) == 13_574
    assert len(c2017.chapters) == 22 and c2017.chapters["02"] == "Neubildungen"
    assert len(c2017.blocks) == 241
    assert {e.block for e in c2017.entries.values()} <= set(c2017.blocks)
    assert c2017.blocks["C81"].last == "C96"
    assert c2017.entries["C61"].terminal and c2024.entries["C61"].terminal
    # C90.00 (fifth character for remission) is in both years; C44.5 gained fifth characters later
    assert "C90.00" in c2024 and "C90.00" in c2017
    assert "C44.50" in c2024 and "C44.50" not in c2017
    assert c2017.entries["C44.5"].terminal and not c2024.entries["C44.5"].terminal


def test_real_alphaid_2010(real_root: Path) -> None:
    rows = load_alphaid(2010, real_root)
    assert len(rows) == 76_135
    assert {r.kind for r in rows} == {"0", "1", "2", "3", "4", "5"}
    assert all(r.additional2 is None and r.year == 2010 for r in rows)
    assert any(r.text == "Prostatakarzinom" and r.primary == "C61" for r in rows)
    daggers = [r for r in rows if r.primary_raw.endswith("+")]
    assert daggers and all(r.asterisk for r in daggers)
    assert not any(ch in (r.primary or "") + (r.asterisk or "") + (r.additional or "") for r in rows for ch in "+*!†")


def test_real_icdo3_2019(real_root: Path) -> None:
    topo = load_catalogue("icdo3_topography", 2019, real_root)
    morph = load_catalogue("icdo3_morphology", 2019, real_root)
    assert len(topo.entries) == 400
    assert topo.entries["C61.9"].title == "Prostata" and topo.entries["C61.9"].parent == "C61"
    assert len(morph.entries) == 5_790
    assert morph.entries["8140/3"].title and morph.entries["8140/3"].parent == "8140"
    assert sum(1 for e in morph.entries.values() if not e.title) == 4_522  # unnamed histology/behaviour pairs
