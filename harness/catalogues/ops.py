"""OPS (procedure classification) EDV file opsYYYYsyst_kodes.txt, ";"-separated, no header.

Columns 1-5 are level; terminal (T/N); kind (X/S); chapter; first code of the group ("5-60").
Two orders of the following columns are read, decided per file from the first line:

* as documented in docs/protocols.md: code with punctuation ("5-601.0"); code without
  punctuation ("56010"); then up to four title parts (three- to six-character titles);
* as in the BfArM files of recent years (their metadata read-me names the columns DKode, Kode,
  Seite, Titel, Viersteller, Fünfsteller, Sechssteller, ...): three-character code ("5-60");
  code with punctuation; side-indication flag; four title parts; flags.

Column 7 holding a hyphen ("5-601.0" rather than "56010") marks the second order. The title
is the most specific non-empty title part, as in the printed catalogue's indented lines.
The kodes file holds levels 4 to 6 only; three-character codes have their own file, so the
parent of a four-character code ("5-60" for "5-601") is usually not an entry.
"""

from __future__ import annotations

from pathlib import Path

from harness.catalogues.model import Catalogue, CatalogueEntry, fail, normalise_code, parent_code, require_year, semicolon_rows

_TITLE_PARTS = 4


def read_ops_edv(path: Path, year: int | None = None) -> Catalogue:
    """Every row of an OPS kodes file, keyed by the code with punctuation."""
    path = Path(path)
    year = require_year(path, year, r"ops(\d{4})", "ops2024syst_kodes.txt")
    entries: dict[str, CatalogueEntry] = {}
    code_column: int | None = None
    for number, fields in semicolon_rows(path, 8, ""):
        if code_column is None:
            code_column = 6 if "-" in fields[6] else 5
        # BfArM order: code, side flag, titles; documented order: code, code without punctuation, titles
        titles = fields[code_column + 2 : code_column + 2 + _TITLE_PARTS]
        level_text, place = fields[0].strip(), fields[1].strip()
        if not level_text.isdigit():
            raise fail(path, number, f"level (column 1) must be a number, not {level_text!r}")
        if place not in ("T", "N"):
            raise fail(path, number, f"terminal flag (column 2) must be T or N, not {place!r}")
        code = normalise_code(fields[code_column])
        if "-" not in code:
            raise fail(path, number, f"column {code_column + 1} must hold an OPS code like 5-601.0, not {code!r}")
        if code in entries:
            raise fail(path, number, f"duplicate code {code}")
        title = next((t.strip() for t in reversed(titles) if t.strip()), "")
        entries[code] = CatalogueEntry(
            code=code,
            title=title,
            level=int(level_text),
            terminal=place == "T",
            parent=parent_code(code),
            chapter=fields[3].strip(),
            block=fields[4].strip(),
            year=year,
        )
    return Catalogue("ops", year, entries, {}, {}, (str(path),))
