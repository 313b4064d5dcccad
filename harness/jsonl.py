"""JSON Lines in the store's one format, read and written fast without changing a byte or a value.

orjson decodes 4-6x faster than the standard library but differs from it in a few corners (integers beyond 64 bits
become floats; NaN, Infinity, lone surrogate escapes are refused), so it reads a line only where its value is the
stdlib's and the stdlib reads the rest, with its own errors. orjson cannot write the store's ``", "`` / ``": "``
separators, so the rows scoring writes by the hundred thousand (score lines, an outputs file's response lines) are
written column by column by ``ColumnEncoder``, in the same bytes as ``json_line``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from itertools import chain, repeat
from json.encoder import encode_basestring
from typing import Any

import orjson

_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 19


def _has_long_digit_run(data: bytes) -> bool:
    """Whether ``data`` holds 19 digits in a row: an integer orjson may turn into a float (it keeps integers in 64
    bits), so such lines are read by the stdlib. (Mapping digits to "0" and searching is several times faster than a
    regular expression.)"""
    return _LONG_DIGIT_RUN in data.translate(_DIGITS_AS_ZERO)


NOT_QUICK = object()
"""What ``quick_loads`` returns for a line it leaves to the standard library."""


def quick_loads(raw: bytes) -> Any:
    """The line's value by orjson, where it is the value ``json.loads`` gives; else ``NOT_QUICK``."""
    if not _has_long_digit_run(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # not JSON as orjson reads it: NaN, a lone surrogate escape, bad UTF-8, a blank line, or no JSON
    return NOT_QUICK


def quick_loads_many(lines: list[bytes], block: bytes | None = None) -> list[Any] | None:
    """Every line's value by orjson, where each is the value ``json.loads`` gives; else None (read them one by one).

    ``block``: the bytes the lines were split from, if at hand (searched for long integers once instead of per line).
    """
    if _has_long_digit_run(block if block is not None else b"\n".join(lines)):
        return None
    try:
        return list(map(orjson.loads, lines))
    except orjson.JSONDecodeError:
        return None


def loads_or(raw: bytes, slow: Callable[[bytes], Any]) -> Any:
    """``slow(raw)`` (the stdlib's reading of the line, its errors included), by orjson wherever that gives the same value."""
    value = quick_loads(raw)
    return slow(raw) if value is NOT_QUICK else value


def _stdlib_loads(raw: bytes) -> Any:
    return json.loads(raw)


def loads(raw: bytes) -> Any:
    """``json.loads(raw)``, faster."""
    return loads_or(raw, _stdlib_loads)


def valid_unicode(text: str) -> str:
    """``text`` with every lone surrogate (U+D800-U+DFFF) replaced by U+FFFD; surrogate pairs become their character.

    A lone surrogate (a reply or an outputs line holding ``"\\ud800"``) is no character and cannot be written
    as UTF-8. It is replaced where rows are written, so every later reader (scoring, report, publish) sees
    valid text, as it would from any other broken byte sequence.
    """
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return valid_unicode(text).encode("utf-8")


def json_line(row: dict[str, Any]) -> bytes:
    """One JSON Lines row as UTF-8 bytes (``", "`` / ``": "`` separators, sorted keys), lone surrogates replaced."""
    return _utf8(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


_CONSTANTS = {None: "null", True: "true", False: "false"}
_PLAIN_TYPES = frozenset({str, int, type(None)})
"""Types whose equal values are written alike (not bool: True == 1; not float: 0.0 == -0.0; not containers)."""
_STRING = frozenset({str})


class ColumnEncoder:
    """``json_line`` of many rows at once, given as columns (one list per key): the same bytes, several times faster.

    orjson cannot write the store's separators, so the rows are written here: each column is encoded in one pass
    (strings by ``json.encoder.encode_basestring``, the function ``json.dumps(ensure_ascii=False)`` escapes them
    with; a dict of plain values once per distinct content), then the rows are filled into one template.
    Values of any other kind go through ``json.dumps`` itself.
    """

    def __init__(self, max_remembered: int = 65_536) -> None:
        self._dicts: dict[tuple[Any, ...], str] = {}
        self._max_remembered = max_remembered

    def lines(self, columns: dict[str, list[Any]]) -> bytes:
        """The rows (row i: every column's item i) as ``json_line`` writes each of them, joined."""
        if not columns:
            return b""
        # each row is its keys' text and its encoded values in turn: one flat sequence, joined without a Python
        # step per row (keys sorted, as json.dumps sorts them)
        pieces: list[Iterable[str]] = []
        for i, key in enumerate(sorted(columns)):
            pieces += [repeat(("{" if i == 0 else ", ") + encode_basestring(key) + ": "), self._column(columns[key])]
        pieces.append(repeat("}\n"))
        return _utf8("".join(chain.from_iterable(zip(*pieces))))

    def _column(self, column: list[Any]) -> list[str]:
        kinds = set(map(type, column))
        if kinds == {str}:
            return list(map(encode_basestring, column))
        if kinds == {int}:
            return list(map(int.__repr__, column))
        if kinds <= {bool, type(None)}:
            return list(map(_CONSTANTS.__getitem__, column))
        if kinds == {str, type(None)}:
            return [encode_basestring(value) if value is not None else "null" for value in column]
        if kinds == {dict}:
            return self._dict_column(column)
        return [self._value(value) for value in column]

    def _dict_column(self, column: list[dict[Any, Any]]) -> list[str]:
        # a scorer's column form may hand the same dict to many samples: each object is encoded once
        identities = list(map(id, column))
        by_object = {identity: self._dict(value) for identity, value in dict(zip(identities, column)).items()}
        return list(map(by_object.__getitem__, identities))

    def _dict(self, value: dict[Any, Any]) -> str:
        """A dict of strings, integers and None under string keys is encoded once per distinct content; any other by
        json.dumps (keys 1, 1.0 and True are equal but written "1", "1.0", "true")."""
        if not (_PLAIN_TYPES.issuperset(map(type, value.values())) and _STRING.issuperset(map(type, value))):
            return _dumps(value)
        content = (tuple(value), tuple(value.values()))
        text = self._dicts.get(content)
        if text is None:
            text = _dumps(value)
            if len(self._dicts) < self._max_remembered:
                self._dicts[content] = text
        return text

    @staticmethod
    def _value(value: Any) -> str:
        kind = type(value)
        if kind is str:
            return encode_basestring(value)
        if value is None:
            return "null"
        if kind is int:
            return int.__repr__(value)
        return _dumps(value)  # bool, float, containers, subclasses: the stdlib's own way
