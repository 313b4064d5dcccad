"""Alphabetical index of ICD-10-GM (Alpha-ID), EDV text files.

Two layouts exist:

* old (e.g. 2010, latin-1, ";"): type; Alpha-ID; print flag; primary code; dagger/star code;
  additional code; text - usually with a trailing ";".
* new (UTF-8): the same with a second additional code before the text (8 columns); newer
  BfArM files also use "|" instead of ";".

How a file's layout is decided: the separator is "|" when the first non-blank line has at
least six "|" and fewer than six ";", else ";". Every line is split and one trailing empty
field (a line ending in the separator) dropped; the most common field count of the file then
decides: 7 = old layout, 8 = new layout. A line with fewer fields is an error; extra fields
are taken as part of the text (a separator inside the text).

Entry types seen in the 2010 file (column 1; the file carries no legend, the meaning is read
off the columns that are filled): 0 = cross-reference without code ("... - s. ..."),
1 = primary code only, 2 = dagger code with star code, 3 = primary with additional code,
4 = dagger, star and additional code, 5 = additional ("!") code only.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from harness.catalogues.model import AlphaIdEntry, fail, normalise_code, numbered_lines, read_text, year_from_name
from harness.errors import OnkobenchError

OLD_FIELDS = 7
NEW_FIELDS = 8


def read_alphaid(path: Path, year: int | None = None) -> list[AlphaIdEntry]:
    """All rows of an Alpha-ID EDV file in file order (Alpha-IDs are not unique: a
    cross-reference and its coded twin can share one)."""
    path = Path(path)
    if year is None:
        year = year_from_name(path, r"icd10gm(\d{4})alpha")
    lines = list(numbered_lines(read_text(path)))
    if not lines:
        return []
    sep = _separator(lines[0][1])
    rows: list[tuple[int, list[str]]] = []
    for number, line in lines:
        fields = line.split(sep)
        if len(fields) > 1 and fields[-1].strip() == "":
            fields.pop()
        rows.append((number, fields))
    width = _layout(path, rows)
    entries: list[AlphaIdEntry] = []
    for number, fields in rows:
        if len(fields) < width:
            raise fail(path, number, f"expected at least {width} fields ({sep!r}-separated), found {len(fields)}")
        flag = fields[2].strip()
        if flag not in ("0", "1", ""):
            raise fail(path, number, f"print flag (column 3) must be 0 or 1, not {flag!r}")
        primary_raw = fields[3].strip()
        entries.append(
            AlphaIdEntry(
                kind=fields[0].strip(),
                alpha_id=fields[1].strip(),
                printable=flag == "1",
                primary=_code(primary_raw),
                primary_raw=primary_raw,
                asterisk=_code(fields[4]),
                additional=_code(fields[5]),
                additional2=_code(fields[6]) if width == NEW_FIELDS else None,
                text=sep.join(fields[width - 1:]).strip(),
                year=year,
            )
        )
    return entries


def _separator(first_line: str) -> str:
    return "|" if first_line.count("|") >= 6 and first_line.count(";") < 6 else ";"


def _layout(path: Path, rows: list[tuple[int, list[str]]]) -> int:
    counts = Counter(len(fields) for _, fields in rows)
    common = counts.most_common(1)[0][0]
    if common not in (OLD_FIELDS, NEW_FIELDS):
        raise OnkobenchError(
            f"{path}: cannot tell the Alpha-ID layout: most lines have {common} fields "
            f"(expected {OLD_FIELDS} for the old or {NEW_FIELDS} for the new layout)"
        )
    return common


def _code(raw: str) -> str | None:
    if not raw or raw.isspace():
        return None
    return normalise_code(raw) or None
