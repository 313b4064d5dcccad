"""ICD-O-3 (German, 2nd revision 2019) topography and morphology tables, ";"-separated with a header.

Columns are found by header name, so their order may change; only the columns read are
required. The morphology table lists every histology with each behaviour digit (0,1,2,3,6,9),
most of them without a name: such rows are kept (with an empty title) because the file
does, but they are not official ICD-O-3 terms.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from harness.catalogues.model import Catalogue, CatalogueEntry, fail, normalise_code, numbered_lines, read_text
from harness.errors import OnkobenchError

TOPOGRAPHY_COLUMNS = ("code", "name", "id3")
MORPHOLOGY_COLUMNS = ("code", "name", "histologie")


def read_icdo3_topography(path: Path, year: int = 2019) -> Catalogue:
    """Topography codes "C61.9" (level 4, parent the three-character "C61" from column id3)."""
    path = Path(path)
    entries: dict[str, CatalogueEntry] = {}
    for number, row in _rows(path, TOPOGRAPHY_COLUMNS):
        code = normalise_code(row["code"])
        _check_new(path, number, code, entries)
        parent = row["id3"].strip() or code.split(".", 1)[0]
        entries[code] = CatalogueEntry(code, row["name"].strip(), 4, True, parent, "", "", year)
    return Catalogue("icdo3_topography", year, entries, {}, {}, (str(path),))


def read_icdo3_morphology(path: Path, year: int = 2019) -> Catalogue:
    """Morphology codes "8140/3" (level 5, parent the histology "8140")."""
    path = Path(path)
    entries: dict[str, CatalogueEntry] = {}
    for number, row in _rows(path, MORPHOLOGY_COLUMNS):
        code = row["code"].strip()
        _check_new(path, number, code, entries)
        parent = row["histologie"].strip() or code.split("/", 1)[0]
        entries[code] = CatalogueEntry(code, row["name"].strip(), 5, True, parent, "", "", year)
    return Catalogue("icdo3_morphology", year, entries, {}, {}, (str(path),))


def _check_new(path: Path, number: int, code: str, entries: dict[str, CatalogueEntry]) -> None:
    if not code:
        raise fail(path, number, "empty code")
    if code in entries:
        raise fail(path, number, f"duplicate code {code}")


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    lines = numbered_lines(read_text(path))
    try:
        header_number, header_line = next(lines)
    except StopIteration:
        raise OnkobenchError(f"{path}: empty file, expected a header with {';'.join(required)}") from None
    header = [name.strip() for name in _split(header_line)]
    for name in required:
        if name not in header:
            raise fail(path, header_number, f"missing column {name!r} in header (found {';'.join(header)})")
    for number, line in lines:
        fields = _split(line)
        if len(fields) < len(header):
            raise fail(path, number, f"expected {len(header)} fields as in the header, found {len(fields)}")
        yield number, dict(zip(header, fields))


def _split(line: str) -> list[str]:
    # csv, not str.split: a quoted name may one day contain ";"
    return next(csv.reader([line], delimiter=";"))
