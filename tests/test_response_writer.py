"""Responses are stored from a background thread (``harness.pipeline.response_writer``): the runner goes on while
rows are written, rows that wait together share one append, and a writing error or a crash loses nothing stored."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest
from fake_runner import ScriptedRunner

from harness.config.models import ModelConfig
from harness.config.tasks import load_task_file
from harness.data import load_task_data, read_jsonl
from harness.pipeline.response_writer import ResponseWriter
from harness.pipeline.run import run_task_variant
from harness.pipeline.spec import RunSpec
from harness.store import RunStore

from support.files import write_jsonl

N = 200


def run(task_file: Path, out: Path, runner: ScriptedRunner, data: Path | None = None):
    task = load_task_file(task_file)
    spec = RunSpec(task, task.variant("zero"), ModelConfig(name="scripted", runner="baseline"), load_task_data(task, data))
    return run_task_variant(spec, out, lambda: runner, progress=False)


def many(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "many.jsonl", [{"id": f"s{i:03d}", "text": f"Diagnose {i}", "code": "C61"} for i in range(N)])


def stored_ids(out: Path) -> list[str]:
    return [row["sample_id"] for row in read_jsonl(out / "mini.coding--zero--scripted" / "responses.jsonl")]


def test_the_runner_goes_on_while_responses_are_written(mini_task_file: Path, tmp_path: Path, monkeypatch) -> None:
    generated_all = threading.Event()
    waited: list[bool] = []
    appends: list[int] = []
    append = RunStore.append_responses

    def slow_append(self, rows) -> None:
        rows = list(rows)
        if rows and not waited:
            # the first write blocks until the runner has produced every response: only a write beside the runner
            # lets that happen (in the runner's thread it would wait out the timeout)
            waited.append(generated_all.wait(timeout=20))
        appends.append(len(rows))
        append(self, rows)

    class Runner(ScriptedRunner):
        def generate(self, requests):
            yield from super().generate(requests)
            generated_all.set()

    monkeypatch.setattr(RunStore, "append_responses", slow_append)
    run(mini_task_file, tmp_path, Runner({}), many(tmp_path))
    assert waited == [True]
    assert sorted(stored_ids(tmp_path)) == [f"s{i:03d}" for i in range(N)]
    # rows that waited for the blocked write went together: a few appends (one fsync each), not one per 16 rows
    assert len([n for n in appends if n]) <= 3, appends


def test_a_write_error_stops_the_run_and_keeps_what_was_stored(mini_task_file: Path, tmp_path: Path, monkeypatch) -> None:
    append = RunStore.append_responses
    stored: list[int] = []
    failed = threading.Event()

    def full_disk_after_first(self, rows) -> None:
        rows = list(rows)
        if rows and stored:
            failed.set()
            raise OSError(errno.ENOSPC, "No space left on device")
        if rows:
            stored.append(len(rows))
        append(self, rows)

    class Runner(ScriptedRunner):
        def generate(self, requests):
            for number, response in enumerate(super().generate(requests)):
                if number == 50:
                    failed.wait(timeout=20)  # the disk is full by now: the next response is refused
                yield response

    monkeypatch.setattr(RunStore, "append_responses", full_disk_after_first)
    runner = Runner({})
    with pytest.raises(OSError, match="No space left"):
        run(mini_task_file, tmp_path, runner, many(tmp_path))
    assert failed.is_set() and len(runner.seen) <= 52  # the run stopped at the error, not at the end
    assert len(stored_ids(tmp_path)) == stored[0]
    monkeypatch.setattr(RunStore, "append_responses", append)
    resumed = ScriptedRunner({})
    run(mini_task_file, tmp_path, resumed, many(tmp_path))
    assert len(resumed.seen) == N - stored[0]
    assert sorted(stored_ids(tmp_path)) == [f"s{i:03d}" for i in range(N)]  # each exactly once


def test_rows_put_before_an_error_in_the_runner_are_stored(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        with ResponseWriter(store, max_rows=2) as writer:  # a small queue: the producer waits for the writer
            for i in range(50):
                writer.put({"key": f"k{i}", "text": str(i)})
            raise KeyboardInterrupt
    assert [row["key"] for row in read_jsonl(store.responses_path)] == [f"k{i}" for i in range(50)]
