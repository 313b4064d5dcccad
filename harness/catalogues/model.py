"""Records shared by all catalogue parsers, plus the text and code helpers they all need."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from harness.errors import OnkobenchError

_BOM = b"\xef\xbb\xbf"
# "+" is the dagger of the ASCII/latin-1 files, which cannot hold "†"; "‡" never occurs in
# ICD-10-GM but costs nothing to strip.
_MARKERS = str.maketrans("", "", "†‡*!+ ")


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One code of a classification, normalised the same way for every system."""

    code: str
    title: str
    level: int
    terminal: bool
    parent: str | None
    chapter: str
    block: str
    year: int


@dataclass(frozen=True, slots=True)
class Block:
    """A range of three-character categories ("Gruppe"), keyed by its first code."""

    first: str
    last: str | None
    chapter: str
    title: str | None


@dataclass(frozen=True, slots=True)
class AlphaIdEntry:
    """One row of the alphabetical index (Alpha-ID): a diagnosis text with its codes."""

    kind: str
    alpha_id: str
    printable: bool
    primary: str | None
    primary_raw: str
    asterisk: str | None
    additional: str | None
    additional2: str | None
    text: str
    year: int | None

    @property
    def codes(self) -> list[str]:
        """Every code of the row: primary, dagger/star, additional (two in the new layout)."""
        return [code for code in (self.primary, self.asterisk, self.additional, self.additional2) if code]


@dataclass(frozen=True)
class Catalogue:
    """All codes of one system and year, looked up by normalised code."""

    system: str
    year: int
    entries: Mapping[str, CatalogueEntry] = field(repr=False)
    blocks: Mapping[str, Block] = field(default_factory=dict, repr=False)
    chapters: Mapping[str, str] = field(default_factory=dict, repr=False)
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # read-only views: a cached catalogue is shared by every caller in the process
        for name in ("entries", "blocks", "chapters"):
            value = getattr(self, name)
            if not isinstance(value, MappingProxyType):
                object.__setattr__(self, name, MappingProxyType(dict(value)))

    def __repr__(self) -> str:
        return f"Catalogue(system={self.system!r}, year={self.year}, entries={len(self.entries)}, sources={self.sources!r})"

    def __hash__(self) -> int:
        # the generated hash would fail on the mapping fields; equal catalogues share these three
        return hash((self.system, self.year, self.sources))

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and normalise_code(code) in self.entries

    def get(self, code: str) -> CatalogueEntry | None:
        return self.entries.get(normalise_code(code))

    def category(self, code: str) -> CatalogueEntry | None:
        """The three-character category of any code ("C34" for "C34.1" or "C34.9x"); OPS: the "5-60" level."""
        key = category_code(code)
        return self.entries.get(key) if key else None

    def block_of(self, code: str) -> str | None:
        entry = self.get(code) or self.category(code)
        return (entry.block or None) if entry else None

    def chapter_of(self, code: str) -> str | None:
        entry = self.get(code) or self.category(code)
        return (entry.chapter or None) if entry else None

    def terminal_codes(self) -> list[str]:
        return [code for code, entry in self.entries.items() if entry.terminal]


def normalise_code(code: str) -> str:
    """Strip dagger/star/exclamation markers, blanks and a trailing "-"/".-" ("A00.-" -> "A00", "C90.0-" -> "C90.0")."""
    code = code.strip().translate(_MARKERS)
    while code.endswith(("-", ".")):
        code = code[:-1]
    return code


def category_code(code: str) -> str:
    """The category part of a code: "C34" for "C34.1"; "5-60" for the OPS code "5-601.0"; "" for an empty code."""
    code = normalise_code(code)
    head = code.split(".", 1)[0]
    # OPS codes are "digit-hyphen-..."; their three-character level is "5-60"
    return head[:4] if len(head) > 1 and head[1] == "-" else head[:3]


def parent_code(code: str) -> str | None:
    """The next coarser code: "C34.1" -> "C34", "C90.00" -> "C90.0", "5-601" -> "5-60", "C34" -> None."""
    head, dot, tail = code.partition(".")
    if dot:
        return f"{head}.{tail[:-1]}" if len(tail) > 1 else head
    if len(head) > 1 and head[1] == "-" and len(head) > 4:
        return head[:-1]
    return None


def code_level(code: str) -> int:
    """ICD-style level: the number of code characters without the dot ("C34.1" -> 4)."""
    return len(code.replace(".", ""))


def decode(data: bytes) -> str:
    """UTF-8 (a BOM stripped); bytes that are not valid UTF-8 are read as latin-1, the old BfArM encoding."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_text(path: Path) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise OnkobenchError(f"{path}: cannot read catalogue file: {exc.strerror or exc}") from exc
    return decode(data)


def numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) for every non-blank line, CR of CRLF removed.

    Splits on "\\n" only: str.splitlines would also split on U+0085, a printable byte in latin-1.
    """
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            yield number, line


def year_from_name(path: Path, pattern: str) -> int | None:
    """The year in a file name such as icd10gm2024syst_kodes.txt (pattern has one group)."""
    match = re.search(pattern, Path(path).name)
    return int(match.group(1)) if match else None


def require_year(path: Path, year: int | None, pattern: str, example: str) -> int:
    if year is not None:
        return year
    found = year_from_name(path, pattern)
    if found is None:
        raise OnkobenchError(f"{path}: cannot tell the catalogue year from the file name (expected e.g. {example}); pass year=")
    return found


def semicolon_rows(path: Path, min_fields: int, layout: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of a ";"-separated catalogue file; a short row names the file, line and ``layout``."""
    detail = f" ({layout})" if layout else ""
    for number, line in numbered_lines(read_text(path)):
        fields = line.split(";")
        if len(fields) < min_fields:
            raise fail(path, number, f"expected at least {min_fields} fields{detail}, found {len(fields)}")
        yield number, fields


def fail(path: Path, number: int, message: str) -> OnkobenchError:
    return OnkobenchError(f"{path}: line {number}: {message}")
