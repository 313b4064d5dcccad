"""harness/jsonl.py: orjson reads a line only where it gives json.loads's value; ColumnEncoder writes json_line's bytes."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.jsonl import ColumnEncoder, NOT_QUICK, json_line, loads, quick_loads, quick_loads_many
from harness.records import stable_hash_of_rows

# text with the characters JSON escapes, lone surrogates, a "%" (the rows are filled into a %-template) and digits
texts = st.lists(st.characters() | st.sampled_from(
    ['"', "\\", "\n", "\x00", "\x1f", "\x7f", "\u2028", "\ud800", "\udc00", "%", "%s", "0" * 19, "ä", "😀"]),
    max_size=8).map("".join)
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | texts)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                      max_leaves=6)


def stdlib(raw: bytes) -> object:
    try:
        return ("ok", json.loads(raw))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return ("error", type(err).__name__)


def same(a: object, b: object) -> bool:
    """Equal, with NaN equal to NaN and the type of every number kept (1 is not 1.0 is not True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


lines = st.one_of(
    values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    values.map(lambda v: json.dumps(v).encode()),  # \uXXXX escapes, lone surrogates among them
    st.binary(max_size=40),
    st.sampled_from([b"", b"\n", b"  \n", b'{"a": NaN}', b'{"a": 1e400}', b'{"a": 123456789012345678901234567890}',
                     b'{"a": -9223372036854775809}', b'{"a": 18446744073709551615}', b"\xef\xbb\xbf{}",
                     b'{"a": "\\ud800"}', b'{"a": "\xff"}', b"[1, 2]", b'{"a": 1, "a": 2}', b'"x"']),
)


@settings(max_examples=600, deadline=None)
@given(lines)
def test_a_line_read_quickly_has_the_stdlib_value(raw: bytes) -> None:
    quick = quick_loads(raw)
    expected = stdlib(raw)
    if quick is not NOT_QUICK:
        assert expected[0] == "ok" and same(quick, expected[1])
    if expected[0] == "ok":
        assert same(loads(raw), expected[1])  # loads falls back to the stdlib for what orjson leaves


@settings(max_examples=200, deadline=None)
@given(st.lists(lines, max_size=6))
def test_lines_read_together_have_the_stdlib_values(raws: list[bytes]) -> None:
    raws = [raw.replace(b"\n", b" ") for raw in raws]  # lines as split from a file
    quick = quick_loads_many(raws)
    if quick is not None:
        expected = [stdlib(raw) for raw in raws]
        assert all(e[0] == "ok" and same(q, e[1]) for q, e in zip(quick, expected))


def test_integers_beyond_64_bits_stay_integers() -> None:
    # orjson would read them as floats; the stdlib reads them
    assert loads(b'{"id": 123456789012345678901234567890}') == {"id": 123456789012345678901234567890}
    assert quick_loads_many([b'{"id": 1}', b'{"id": 1234567890123456789012}']) is None


row_keys = st.lists(texts, min_size=1, max_size=5, unique=True)


@st.composite
def row_columns(draw) -> dict[str, list]:
    """Columns of a few rows: shared dict objects (as a scorer's column form hands out), dicts of one shape, mixed types."""
    keys = draw(row_keys)
    n = draw(st.integers(min_value=0, max_value=6))
    shared = draw(st.dictionaries(texts, scalars, max_size=4))
    columns = {}
    for key in keys:
        kind = draw(st.sampled_from(["values", "shared dict", "plain dict", "strings", "ints", "constants"]))
        if kind == "shared dict":
            columns[key] = [shared] * n
        elif kind == "plain dict":
            columns[key] = [draw(st.dictionaries(st.sampled_from(["b", "a", "c"]), st.none() | st.integers() | texts
                                                 | st.booleans(), max_size=3)) for _ in range(n)]
        elif kind == "strings":
            columns[key] = [draw(texts) for _ in range(n)]
        elif kind == "ints":
            columns[key] = [draw(st.integers() | st.booleans()) for _ in range(n)]
        elif kind == "constants":
            columns[key] = [draw(st.none() | st.booleans()) for _ in range(n)]
        else:
            columns[key] = [draw(values) for _ in range(n)]
    return columns


@settings(max_examples=500, deadline=None)
@given(row_columns())
def test_column_encoder_writes_the_bytes_of_json_line(columns: dict[str, list]) -> None:
    encoder = ColumnEncoder()
    n = len(next(iter(columns.values())))
    rows = [{key: column[i] for key, column in columns.items()} for i in range(n)]
    expected = b"".join(json_line(row) for row in rows)
    assert encoder.lines(columns) == expected
    assert encoder.lines(columns) == expected  # again, from what it remembered


def test_equal_dicts_with_values_of_other_types_are_written_apart() -> None:
    encoder = ColumnEncoder()
    # 1 == True == 1.0 and 0.0 == -0.0 as dict keys; each must keep its own spelling
    column = [{"a": 1}, {"a": True}, {"a": 1.0}, {"a": 0.0}, {"a": -0.0}, {"a": 1}, {1: "x"}, {True: "x"}, {1.0: "x"}]
    assert encoder.lines({"v": column}) == b"".join(json_line({"v": v}) for v in column)


flat_rows = st.lists(st.dictionaries(texts, st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                                     | texts | st.floats(allow_nan=False), max_size=4), max_size=8)


@settings(max_examples=300, deadline=None)
@given(flat_rows)
def test_fingerprint_of_rows_is_the_stdlib_one(rows: list[dict]) -> None:
    try:
        text = json.dumps(rows, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        expected_bytes = text.encode("utf-8")
    except UnicodeEncodeError:
        return  # a lone surrogate: the stdlib cannot hash it either (unchanged behaviour)
    import hashlib

    for chunk in (1, 3, 4096):
        assert stable_hash_of_rows(rows, length=64, chunk=chunk) == hashlib.sha256(expected_bytes).hexdigest()
