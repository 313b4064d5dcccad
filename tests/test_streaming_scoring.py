"""The pieces that let scoring stream: the response index, positional reads, the score table, fast paths."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.catalogues.codes import find_icd10_codes
from harness.records import stable_hash, stable_hash_of_rows
from harness.scoring import ScoreTable, compute_metrics
from harness.scoring.icd import choose_code, icd10gm_code_parser
from harness.scoring.metrics import ScoredSample
from harness.store import RunStore, _key_and_failure

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["key", "error", "text", "x"]), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    key=st.text(min_size=1),
    error=st.none() | st.text(),
    text=st.text(),
    item=json_values,
)
def test_key_and_failure_equal_a_full_decode(key: str, error: str | None, text: str, item: object) -> None:
    row = {"key": key, "error": error, "text": text, "query_item": item}
    line = (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8", errors="surrogatepass")
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return  # lone surrogates are never written (the store writes UTF-8 text)
    assert _key_and_failure(line) == (key, error is not None)


def test_index_keeps_the_latest_line_per_key_and_reads_it_back(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.append_responses([{"key": "a", "text": "first", "error": None}, {"key": "b", "text": "", "error": "timeout"}])
    store.append_responses([{"key": "b", "text": "retried", "error": None}, {"key": "c", "text": "x", "error": "500"}])
    index = store.response_index()
    assert index.done() == {"a", "b"}
    assert index.failed == {"c"}
    with store.open_responses() as reader:
        assert reader.read_at(index.offsets["b"])["text"] == "retried"
        assert reader.read_at(index.offsets["a"])["text"] == "first"  # backwards: seeks
        assert reader.read_at(index.offsets["b"])["text"] == "retried"
    with store.responses_path.open("a", encoding="utf-8") as handle:
        handle.write('{"key": "d", "text": "torn')
    assert "d" not in store.response_index().offsets


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[A-Z][0-9]{2}(\.[0-9]{1,2})?", fullmatch=True))
def test_bare_code_fast_path_equals_the_tolerant_parser(code: str) -> None:
    assert icd10gm_code_parser()(code) == choose_code(find_icd10_codes(code))


def test_hash_of_rows_in_chunks_equals_the_whole() -> None:
    rows = [{"id": str(i), "text": "Ä\"b" * (i % 7), "n": [1, 2.5, None]} for i in range(9000)]
    for n in (0, 1, 4095, 4096, 4097, 9000):
        assert stable_hash_of_rows(rows[:n], length=32) == stable_hash(rows[:n], length=32)


def test_table_fills_columns_a_sample_did_not_set() -> None:
    samples = [
        ScoredSample("1", None, "ok", "", None, None, {"correct": 1, "na": 0}),
        ScoredSample("2", None, "malformed", "x", None, None, {"correct": 0}),
        ScoredSample("3", None, "ok", "", None, None, {"correct": 1, "na": 0, "partial": 1}),
        ScoredSample("4", None, "ok", "", None, None, {"correct": 0, "na": 1}),
    ]
    table = ScoreTable.from_samples(samples)
    assert table.values("na") == [0, None, 0, 1]
    assert table.values("partial") == [None, None, 1, None]
    assert list(table.na) == [False, True, False, True]  # no flag: NA = not parsed
    m = compute_metrics(["accuracy", "p_correct", "partial_accuracy"], table)
    assert (m["accuracy"].value, m["p_correct"].value, m["partial_accuracy"].value) == (0.5, 1.0, 0.25)


def test_index_of_chosen_keys_only(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.append_responses({"key": f"k{i}", "text": str(i), "error": None} for i in range(100))
    index = store.response_index(keys={"k3", "k97", "missing"})
    assert set(index.offsets) == {"k3", "k97"}
    with store.open_responses() as reader:
        assert reader.read_at(index.offsets["k97"])["text"] == "97"
