"""ICD-10-GM "Klassifikationsdateien" (EDV/TXT): icd10gmYYYYsyst_kodes.txt with its gruppen and kapitel files.

Column meanings follow the publisher's icd10gmYYYYsyst_metadaten_liesmich.txt; only the first
nine columns of kodes are read, so the metadata columns that changed over the years (30 in
2017, 28 from 2018) do not matter.
"""

from __future__ import annotations

from pathlib import Path

from harness.catalogues.model import (
    Block,
    Catalogue,
    CatalogueEntry,
    fail,
    normalise_code,
    numbered_lines,
    parent_code,
    read_text,
    require_year,
    semicolon_rows,
)

_YEAR_IN_NAME = r"icd10gm(\d{4})"


def read_icd10gm_edv(
    kodes: Path,
    gruppen: Path | None = None,
    kapitel: Path | None = None,
    year: int | None = None,
) -> Catalogue:
    """Every row of kodes (levels 3/4/5, terminal or not) as one entry keyed by its normcode."""
    kodes = Path(kodes)
    year = require_year(kodes, year, _YEAR_IN_NAME, "icd10gm2024syst_kodes.txt")
    entries: dict[str, CatalogueEntry] = {}
    block_chapters: dict[str, str] = {}
    for number, line in numbered_lines(read_text(kodes)):
        # only the first nine columns are used; not splitting the rest saves a third of the time
        fields = line.split(";", 9)
        if len(fields) < 9:
            raise fail(kodes, number, f"expected at least 9 fields, found {len(fields)}")
        level_text, place, _kind, chapter, block, code_raw, normcode = fields[:7]
        if level_text not in ("3", "4", "5"):
            raise fail(kodes, number, f"level (column 1) must be 3, 4 or 5, not {level_text!r}")
        if place not in ("T", "N"):
            raise fail(kodes, number, f"terminal flag (column 2) must be T or N, not {place!r}")
        # column 7 is already free of markers; stripping again guards against hand-edited files
        code = normalise_code(normcode or code_raw)
        if not code:
            raise fail(kodes, number, "empty code (columns 6 and 7)")
        if code in entries:
            raise fail(kodes, number, f"duplicate code {code}")
        entries[code] = CatalogueEntry(
            code=code,
            title=fields[8].strip(),
            level=int(level_text),
            terminal=place == "T",
            parent=parent_code(code),
            chapter=chapter,
            block=block,
            year=year,
        )
        block_chapters.setdefault(block, chapter)
    sources = [str(kodes)]
    if gruppen is not None:
        blocks = read_gruppen(Path(gruppen))
        sources.append(str(gruppen))
    else:
        blocks = {first: Block(first, None, chapter, None) for first, chapter in block_chapters.items() if first}
    chapters: dict[str, str] = {}
    if kapitel is not None:
        chapters = read_kapitel(Path(kapitel))
        sources.append(str(kapitel))
    return Catalogue("icd10gm", year, entries, blocks, chapters, tuple(sources))


def read_gruppen(path: Path) -> dict[str, Block]:
    """icd10gmYYYYsyst_gruppen.txt: first code; last code; chapter; title (innermost blocks only)."""
    blocks: dict[str, Block] = {}
    for _, fields in semicolon_rows(path, 4, "first;last;chapter;title"):
        first, last, chapter = (f.strip() for f in fields[:3])
        # a title could in principle hold ";": everything after the third separator is title
        blocks[first] = Block(first, last or None, chapter, ";".join(fields[3:]).strip() or None)
    return blocks


def read_kapitel(path: Path) -> dict[str, str]:
    """icd10gmYYYYsyst_kapitel.txt: chapter number; title."""
    chapters: dict[str, str] = {}
    for _, fields in semicolon_rows(path, 2, "chapter;title"):
        chapters[fields[0].strip()] = ";".join(fields[1:]).strip()
    return chapters
