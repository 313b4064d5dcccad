from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.scoring.parsers import EMPTY, MALFORMED, OK, PARSERS, code_parser, json_array_parser

ICD = r"(?<![A-Za-z0-9])([A-Z][0-9]{2}(?:\.[0-9]{1,2})?)(?![0-9])"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('["Prostatakarzinom"]', ["Prostatakarzinom"]),
        ("Antwort: [] (kein Tumor)", []),
        ('[["A", "B"], "C"]', ["A", "B", "C"]),  # nested lists are flattened
        ('["A"] und danach [1, 2]', ["A"]),  # only the first array; text after it is ignored
        ("[\u201cProstatakarzinom\u201d]", ["Prostatakarzinom"]),  # English curly quotes become '"'
        ('[1, [2, [3, [4]]]]', [1, 2, 3, 4]),
    ],
)
def test_json_array_values(text: str, value: list) -> None:
    parsed = json_array_parser()(text)
    assert parsed.status == OK
    assert parsed.value == value


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("", EMPTY),
        ("   \n", EMPTY),
        ("keine Diagnose", MALFORMED),
        ('["offen"', MALFORMED),
        ("[\u201eProstatakarzinom\u201d]", MALFORMED),  # the German low quote U+201E is not replaced
        ("[Prostatakarzinom]", MALFORMED),
    ],
)
def test_json_array_malformed(text: str, status: str) -> None:
    parsed = json_array_parser()(text)
    assert parsed.status == status
    assert parsed.value is None
    assert parsed.reason


def test_json_array_brackets_inside_strings_are_counted() -> None:
    # the study's scan counts every bracket, also inside JSON strings: '["a]b"]' is cut to '["a]' -> NA
    assert json_array_parser()('["a]b"]').status == MALFORMED


def test_json_array_deep_nesting_is_malformed_not_an_exception() -> None:
    parsed = json_array_parser()("[" * 100_000 + "]" * 100_000)
    assert parsed.status in (OK, MALFORMED)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("C61", "C61"),
        ("Der Code ist C34.1 (Oberlappen).", "C34.1"),
        ("c50.4", "C50.4"),
        ("C90.00", "C90.00"),
        ("ICD: D05.1, alternativ C50.9", "D05.1"),
    ],
)
def test_code_parser_first_code(text: str, code: str) -> None:
    assert code_parser(ICD)(text).value == code


def test_code_parser_no_code() -> None:
    assert code_parser(ICD)("Prostatakarzinom").status == MALFORMED
    assert code_parser(ICD)("").status == EMPTY
    assert code_parser(ICD)("XC611").status == MALFORMED  # embedded in a longer token


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_parsers_never_raise(text: str) -> None:
    for parser in (json_array_parser(), code_parser(ICD)):
        parsed = parser(text)
        assert parsed.status in (OK, MALFORMED, EMPTY)
        assert (parsed.value is None) == (parsed.status != OK)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.text(alphabet=st.characters(exclude_characters="[]\u201c\u201d"), max_size=5), lambda children: st.lists(children, max_size=4), max_leaves=20))
def test_json_array_roundtrip_flattens(value) -> None:
    import json

    data = value if isinstance(value, list) else [value]
    parsed = json_array_parser()("Antwort: " + json.dumps(data, ensure_ascii=False) + " Ende")
    assert parsed.status == OK
    flat: list = []

    def walk(items: list) -> None:
        for item in items:
            walk(item) if isinstance(item, list) else flat.append(item)

    walk(data)
    assert parsed.value == flat


def test_every_parser_documented() -> None:
    for name in PARSERS:
        assert PARSERS.get(name).__doc__, name
