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


def test_unreadable_lines_anywhere_are_quarantined_with_their_offsets(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.append_responses(rows(6))
    lines = store.responses_path.read_bytes().splitlines(keepends=True)
    broken = {
        1: b"\x00" * 40 + b"\n",  # a block of NULs (power cut)
        2: lines[2].replace(b"Antwort", b"Antw\xffrt"),  # not UTF-8: the store never writes that
        3: b"\n",  # an empty line
        4: lines[4][:15] + b"\n",  # the line cut short, the key still findable
    }
    store.responses_path.write_bytes(b"".join(broken.get(i, line) for i, line in enumerate(lines)))
    offsets = [sum(len(broken.get(i, line)) for i, line in enumerate(lines[:n])) for n in sorted(broken)]
    assert store.quarantine_unreadable() == 4
    assert set(store.latest_responses()) == {"k0", "k5"}  # the others count as not done: they run again
    moved = [json.loads(line) for line in store.quarantine_path.read_text(encoding="utf-8").splitlines()]
    assert [m["offset"] for m in moved] == offsets and "\\xff" in moved[1]["line"]
    assert store.quarantine_unreadable() == 0  # nothing left to move; the file is not rewritten again


def test_the_lock_names_its_holder_and_is_released(tmp_path: Path) -> None:
    import os

    import pytest

    from harness.errors import OnkobenchError

    store = RunStore(tmp_path / "run")
    with store.lock():
        with pytest.raises(OnkobenchError, match=rf"another run is writing this folder \(pid {os.getpid()} on "):
            with RunStore(tmp_path / "run").lock():
                pass
    with RunStore(tmp_path / "run").lock():  # released on exit
        pass
    assert (tmp_path / "run" / "run.lock").read_text(encoding="utf-8") == ""  # no stale holder left behind


def test_a_run_refused_while_the_holder_is_still_writing_its_name_names_it(tmp_path: Path) -> None:
    """The holder takes the lock, then writes its name: a run refused in between waits for the name instead of
    naming nobody (a race CI hit when two identical runs started at once)."""
    import fcntl
    import threading

    import pytest

    from harness.errors import OnkobenchError

    folder = tmp_path / "run"
    folder.mkdir()
    holder = (folder / "run.lock").open("a+", encoding="utf-8")
    fcntl.flock(holder.fileno(), fcntl.LOCK_EX)  # locked, name not yet written

    def name_it() -> None:
        holder.write(json.dumps({"pid": 4242, "host": "node-7", "started_at": "2026-11-30T12:00:00+00:00"}))
        holder.flush()

    timer = threading.Timer(0.3, name_it)
    timer.start()
    try:
        with pytest.raises(OnkobenchError, match=r"another run is writing this folder \(pid 4242 on node-7, since "):
            with RunStore(folder).lock():
                pass
    finally:
        timer.join()
        holder.close()
