"""The pieces that let scoring stream: the response index, positional reads, the score table, fast paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.catalogues.codes import find_icd10_codes
from harness.records import stable_hash, stable_hash_of_rows
from harness.scoring import ScoreTable, compute_metrics
from harness.scoring.icd import choose_code, icd10gm_code_parser
from harness.scoring.metrics import ScoredSample
from harness.errors import OnkobenchError
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


value_dicts = st.lists(st.dictionaries(st.sampled_from(["correct", "na", "outcome", "gold"]),
                                       st.none() | st.integers(0, 1) | st.sampled_from(["exact", "C61"])
                                       | st.lists(st.sampled_from(["C61", "C62"]), max_size=2), max_size=4), max_size=12)


@settings(max_examples=300, deadline=None)
@given(value_dicts, st.integers(min_value=0, max_value=12), st.booleans())
def test_tables_of_chunks_joined_equal_one_table_filled_sample_by_sample(values: list[dict], cut: int, grouped: bool) -> None:
    ids = [f"s{i}" for i in range(len(values))]
    groups = [f"g{i // 3}" if grouped and i % 2 else None for i in range(len(values))]
    statuses = ["ok" if i % 3 else "malformed" for i in range(len(values))]
    one = ScoreTable()
    for sample_id, group, status, row in zip(ids, groups, statuses, values):
        one.add(sample_id, group, status, row)
    cut = min(cut, len(values))
    joined = ScoreTable.from_columns(ids[:cut], groups[:cut] if grouped else None, statuses[:cut], values[:cut])
    joined.extend(ScoreTable.from_columns(ids[cut:], groups[cut:] if grouped else None, statuses[cut:], values[cut:]))
    if not grouped:
        one = ScoreTable()
        for sample_id, status, row in zip(ids, statuses, values):
            one.add(sample_id, None, status, row)
    for name in ("correct", "na", "outcome", "gold", "absent"):
        assert joined.values(name) == one.values(name)
    assert (joined.status, joined.ids, joined.cluster) == (one.status, one.ids, one.cluster)
    assert list(joined.na) == list(one.na) and joined.status_counts() == one.status_counts()
    joined.add("late", None, "ok", {"correct": 1})  # a table joined from chunks goes on like any other
    one.add("late", None, "ok", {"correct": 1})
    assert joined.values("correct") == one.values("correct") and joined.values("na") == one.values("na")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=0, max_value=39), max_size=25), st.sampled_from([1, 200, 8 * 2**20]))
def test_reading_many_lines_at_once_equals_reading_each(tmp_path_factory, picks: list[int], block_bytes: int) -> None:
    import harness.store as store_module

    store = RunStore(tmp_path_factory.mktemp("many"))
    store.append_responses({"key": f"k{i}", "text": "ä\n\"" * (i % 4) + str(i), "error": None} for i in range(40))
    offsets = list(store.response_index().offsets.values())
    wanted = [offsets[i] for i in picks]
    with store.open_responses() as reader:
        expected = [reader.read_at(offset) for offset in wanted]
    old, store_module.BLOCK_BYTES = store_module.BLOCK_BYTES, block_bytes
    try:
        with store.open_responses() as reader:
            assert reader.read_many(wanted) == expected
            assert reader.read_many(sorted(set(wanted))) == [reader.read_at(o) for o in sorted(set(wanted))]
    finally:
        store_module.BLOCK_BYTES = old


def test_reading_many_names_a_line_that_is_not_there(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.append_responses({"key": f"k{i}", "text": str(i), "error": None} for i in range(5))
    offsets = list(store.response_index().offsets.values())
    with store.open_responses() as reader:
        with pytest.raises(OnkobenchError, match=f"{store.responses_path}: the line at byte {offsets[2] + 1} is not"):
            reader.read_many([offsets[0], offsets[2] + 1, offsets[3]])


def test_jsonl_read_in_batches_still_names_the_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.data as data_module

    monkeypatch.setattr(data_module, "_BATCH_BYTES", 64)  # a few lines per batch
    path = tmp_path / "rows.jsonl"
    good = [json.dumps({"id": i, "big": 123456789012345678901234567890 + i}) for i in range(30)]
    path.write_text("\n".join(good[:20] + ["", "   "] + good[20:]) + "\n", encoding="utf-8")
    rows = list(data_module.iter_jsonl(path))
    assert [row["id"] for row in rows] == list(range(30))  # blank lines skipped
    assert rows[7]["big"] == 123456789012345678901234567897  # an integer beyond 64 bits stays an integer
    path.write_text("\n".join(good[:25] + ['{"id": 25, "x": NaN}', '{"id": 26']) + "\n", encoding="utf-8")
    read = []
    with pytest.raises(OnkobenchError, match=f"{path}: line 27: invalid JSON"):
        for row in data_module.iter_jsonl(path):
            read.append(row["id"])
    assert read == list(range(26))  # every row before the broken line came first (NaN read by the stdlib)


def test_response_stats_of_chunks_joined_equal_one_pass() -> None:
    from harness.scoring.response_stats import ResponseStats

    rows = [{"latency_s": 0.1 * (i % 7) + 1e-9 * i, "n_batch": (i % 3) or None, "n_output_tokens": i} for i in range(50)]
    one = ResponseStats()
    for row in rows:
        one.add(row)
    joined = ResponseStats()
    for start in range(0, 50, 8):
        part = ResponseStats()
        part.add_rows(rows[start:start + 8])
        joined.extend(part)
    assert joined.latency() == one.latency() and joined.token_means() == one.token_means()
    total = 0.0
    for row in rows:  # the figure summed left to right, as before chunks
        if row["n_batch"]:
            total += row["latency_s"] / row["n_batch"]
    # rows without a batch size are one engine call's overlapping requests: the slowest of them counts once
    total += max(row["latency_s"] for row in rows if not row["n_batch"])
    assert one.latency()["seconds_per_item"] == round(total / 50, 6)
