from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.store import RunStore


def rows(n: int) -> list[dict]:
    return [{"key": f"k{i}", "text": f"Antwort {i} – ä"} for i in range(n)]


def test_append_and_latest(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.append_responses(rows(3))
    store.append_responses([{"key": "k1", "text": "retry"}])
    latest = store.latest_responses()
    assert list(latest) == ["k0", "k1", "k2"]
    assert latest["k1"]["text"] == "retry"


def test_torn_tail_is_cut(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.append_responses(rows(2))
    with store.responses_path.open("a", encoding="utf-8") as handle:
        handle.write('{"key": "k2", "text": "halb')
    assert set(store.latest_responses()) == {"k0", "k1"}
    assert store.repair_torn_tail() is True
    assert store.responses_path.read_text(encoding="utf-8").endswith("\n")
    assert store.repair_torn_tail() is False
    store.append_responses(rows(3)[2:])
    assert set(store.latest_responses()) == {"k0", "k1", "k2"}


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_truncated_at_any_byte_yields_each_key_at_most_once(tmp_path_factory, data) -> None:
    folder = tmp_path_factory.mktemp("store")
    store = RunStore(folder)
    store.append_responses(rows(6))
    raw = store.responses_path.read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    store.responses_path.write_bytes(raw[:cut])
    store.repair_torn_tail()
    keys = [json.loads(line)["key"] for line in store.responses_path.read_text(encoding="utf-8").splitlines()]
    assert len(keys) == len(set(keys))
    complete = raw[:cut].count(b"\n")
    assert keys == [f"k{i}" for i in range(complete)]
