"""An outputs file in the data set's order (the usual file) is scored from its own lines: each chunk's lines are
decoded, checked, copied and scored in one go (by a worker, or here). These tests hold that path to the one every
other file takes (read record by record here, copied, then scored from the copy): the same bytes in the run folder,
and the same error, naming the same record, wherever the file stops being in order or stops being valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config.tasks import load_task_file
from harness.data import load_task_data
from harness.errors import OnkobenchError
from harness.pipeline import outputs_file
from harness.pipeline.outputs_file import _OneLineEach, outputs_scoring_pool, score_outputs_file
from harness.scoring.stages import StageTimes
from harness.store import RunStore

from test_parallel_scoring import (  # noqa: F401  (fixtures)
    CHUNK, coding_task, fixture_catalogue, scored_one_at_a_time, small_chunks, without_times,
)

N = 500
"""Samples: five full chunks of 97 and a short one."""


def clean_outputs(folder: Path, n: int = N) -> tuple[Path, list[dict]]:
    """The task and in-order outputs that orjson reads as the standard library does (no lone surrogate, no long
    integer: those lines are left to the record-by-record path)."""
    task_file, outputs = coding_task(folder, n, shuffled=False)
    return task_file, [{**row, "output": row["output"].replace("\ud800", "?").replace("9" * 25, "99")} for row in outputs]


def write_lines(path: Path, lines: list[str], final_newline: bool = True) -> Path:
    path.write_text("\n".join(lines) + ("\n" if final_newline else ""), encoding="utf-8")
    return path


def lines_of(outputs: list[dict]) -> list[str]:
    return [json.dumps(row) for row in outputs]


def score(task_file: Path, path: Path, out: Path, workers: int, times: StageTimes | None = None,
          copied: int | None = None) -> RunStore:
    """The run folder; ``copied``: the lines its copy of the outputs must count."""
    task = load_task_file(task_file)
    data = load_task_data(task)
    outcome = score_outputs_file(task, data, path, out, "m", workers=workers, times=times)
    assert copied is None or outcome.n_reused == copied
    return RunStore(outcome.folder)


def record_by_record(monkeypatch: pytest.MonkeyPatch, task_file: Path, path: Path, out: Path) -> RunStore:
    """The run folder as the path for any file makes it (no chunk taken from the file's lines)."""
    with monkeypatch.context() as patch:
        patch.setattr(outputs_file, "_copy_and_score", lambda scorer, encoder, part: None)
        return score(task_file, path, out, workers=1)


def same_run(one: RunStore, other: RunStore) -> None:
    assert one.scores_path.read_bytes() == other.scores_path.read_bytes()
    assert one.responses_path.read_bytes() == other.responses_path.read_bytes()
    assert without_times(one.summary_path) == without_times(other.summary_path)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_in_order_file_is_scored_from_its_lines_with_the_same_bytes(
    tmp_path: Path, small_chunks: None, fixture_catalogue: None, monkeypatch: pytest.MonkeyPatch, workers: int,
) -> None:
    task_file, outputs = clean_outputs(tmp_path)
    path = write_lines(tmp_path / "outputs.jsonl", lines_of(outputs))
    times = StageTimes()
    fast = score(task_file, path, tmp_path / "fast", workers, times, copied=N)
    assert "parse" in times.seconds and "read stored responses + parse" not in times.seconds  # no chunk read the copy
    same_run(fast, record_by_record(monkeypatch, task_file, path, tmp_path / "slow"))
    task = load_task_file(task_file)
    data = load_task_data(task)
    assert fast.scores_path.read_bytes() == scored_one_at_a_time(fast, task, None, data, _OneLineEach(data))
    assert fast.read_summary().n_samples == N


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("final_newline", [True, False])
def test_a_file_that_stops_being_in_order_goes_on_record_by_record(
    tmp_path: Path, small_chunks: None, fixture_catalogue: None, monkeypatch: pytest.MonkeyPatch, workers: int,
    final_newline: bool,
) -> None:
    task_file, outputs = clean_outputs(tmp_path)
    # chunks 1-2 in order, then two samples swapped, a blank line, a line the standard library reads (a long
    # integer), and the last 40 samples without an output
    rest = outputs[2 * CHUNK : N - 40]
    rest[5], rest[6] = rest[6], rest[5]
    lines = lines_of(outputs[: 2 * CHUNK]) + lines_of(rest[:100]) + [""] + \
        [json.dumps({**rest[100], "tokens": 10**30})] + lines_of(rest[101:])
    path = write_lines(tmp_path / "outputs.jsonl", lines, final_newline)
    fast = score(task_file, path, tmp_path / "fast", workers, copied=N - 40)
    same_run(fast, record_by_record(monkeypatch, task_file, path, tmp_path / "slow"))
    summary = fast.read_summary()
    assert summary.n_samples == N and summary.status_counts["missing"] == 40


BAD_RECORDS = {
    "invalid JSON": ('{"id": "s00250", "output": ', r"line 251: invalid JSON"),
    "unknown id": ('{"id": "nobody", "output": "C61"}', r"record 251: id 'nobody' is not a sample id of the dataset"),
    "id twice": ('{"id": "s00003", "output": "C61"}', r"record 251: id 's00003' appears twice"),
    "no output": ('{"id": "s00250"}', r"record 251: needs key\(s\) output"),
    "output not text": ('{"id": "s00250", "output": 61}', r"record 251: 'output' must be a string"),
}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("record", [5, 251])  # in the first chunk, or in the third after two scored from their lines
@pytest.mark.parametrize("kind", sorted(BAD_RECORDS))
def test_a_bad_record_is_named_as_in_any_file(
    tmp_path: Path, small_chunks: None, fixture_catalogue: None, workers: int, record: int, kind: str,
) -> None:
    task_file, outputs = clean_outputs(tmp_path)
    line, message = BAD_RECORDS[kind]
    lines = lines_of(outputs)
    lines[record - 1] = line.replace("s00250", f"s{record - 1:05d}")
    path = write_lines(tmp_path / "outputs.jsonl", lines)
    with pytest.raises(OnkobenchError, match=rf"outputs\.jsonl: {message.replace('251', str(record))}"):
        score(task_file, path, tmp_path / "runs", workers)
    assert not list((tmp_path / "runs").glob("*/scores.jsonl"))  # nothing of this scoring is left as a result


@pytest.mark.parametrize("workers", [1, 2])
def test_the_last_short_chunk_out_of_order_and_crlf_lines(
    tmp_path: Path, small_chunks: None, fixture_catalogue: None, monkeypatch: pytest.MonkeyPatch, workers: int,
) -> None:
    task_file, outputs = clean_outputs(tmp_path)
    swapped = outputs[:-2] + [outputs[-1], outputs[-2]]  # the last chunk (15 samples) is not in order
    path = write_lines(tmp_path / "outputs.jsonl", lines_of(swapped))
    same_run(score(task_file, path, tmp_path / "fast", workers), record_by_record(monkeypatch, task_file, path, tmp_path / "slow"))
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes("".join(line + "\r\n" for line in lines_of(outputs)).encode("utf-8"))
    lf = write_lines(tmp_path / "lf.jsonl", lines_of(outputs))
    in_crlf, in_lf = score(task_file, crlf, tmp_path / "crlf", workers), score(task_file, lf, tmp_path / "lf", workers)
    assert in_crlf.scores_path.read_bytes() == in_lf.scores_path.read_bytes()
    assert in_crlf.responses_path.read_bytes() == in_lf.responses_path.read_bytes()


def test_outputs_from_a_pipe_are_read_once_record_by_record(
    tmp_path: Path, small_chunks: None, fixture_catalogue: None,
) -> None:
    import os
    import threading

    task_file, outputs = clean_outputs(tmp_path)
    text = "".join(line + "\n" for line in lines_of(outputs)).encode("utf-8")
    regular = score(task_file, write_lines(tmp_path / "outputs.jsonl", lines_of(outputs)), tmp_path / "file", 1)
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(text,), daemon=True)
    writer.start()
    task = load_task_file(task_file)
    with outputs_scoring_pool(task, fifo, workers=2) as pool:  # counting the lines must not read the pipe
        piped = RunStore(score_outputs_file(task, load_task_data(task), fifo, tmp_path / "pipe", "m", pool=pool).folder)
    writer.join(timeout=30)
    assert piped.scores_path.read_bytes() == regular.scores_path.read_bytes()
    assert piped.read_summary().status_counts.get("missing", 0) == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_records_after_the_last_sample_are_still_checked(
    tmp_path: Path, small_chunks: None, fixture_catalogue: None, workers: int,
) -> None:
    task_file, outputs = clean_outputs(tmp_path)
    path = write_lines(tmp_path / "outputs.jsonl", lines_of(outputs) + ["", json.dumps(outputs[3])])
    with pytest.raises(OnkobenchError, match=rf"record {N + 1}: id 's00003' appears twice"):
        score(task_file, path, tmp_path / "runs", workers)
    blank_after = write_lines(tmp_path / "blank.jsonl", lines_of(outputs) + ["", ""])
    assert score(task_file, blank_after, tmp_path / "ok", workers).read_summary().n_samples == N


def test_a_pool_started_before_the_data_set_is_read_scores_the_same(
    tmp_path: Path, small_chunks: None, fixture_catalogue: None,
) -> None:
    task_file, outputs = clean_outputs(tmp_path)
    path = write_lines(tmp_path / "outputs.jsonl", lines_of(outputs))
    task = load_task_file(task_file)
    with outputs_scoring_pool(task, path, workers=2) as pool:
        assert pool.workers == 2
        data = load_task_data(task)
        started = RunStore(score_outputs_file(task, data, path, tmp_path / "started", "m", pool=pool).folder)
    same_run(started, score(task_file, path, tmp_path / "own", workers=2))
    with outputs_scoring_pool(task, path) as pool:
        assert pool.workers == 1  # chosen by the file's lines: a small file is scored here
    with pytest.raises(ValueError, match="another task or variant"):
        with outputs_scoring_pool(task, path, variant="0", workers=1) as pool:
            score_outputs_file(task, data, path, tmp_path / "other", "m", pool=pool)
    assert not (tmp_path / "other").exists()  # refused before anything was written
    with outputs_scoring_pool(task, path, workers=2) as pool:
        score_outputs_file(task, data, path, tmp_path / "once", "m", pool=pool)
        with pytest.raises(RuntimeError, match="let go"):  # its workers went once the file was scored
            score_outputs_file(task, data, path, tmp_path / "twice", "m", pool=pool)


def test_the_line_count_that_chooses_the_workers_stops_when_it_is_enough(tmp_path: Path) -> None:
    from harness.pipeline.outputs_file import _count_lines

    path = tmp_path / "big.jsonl"
    line = b'{"id": "s", "output": "C61"}\n'
    path.write_bytes(line * 150_000)  # about 4 MB
    assert _count_lines(path, enough=10**9) == 150_000
    counted = _count_lines(path, enough=10)
    assert 10 <= counted < 150_000  # the first megabyte's lines, not the whole file


FORKED_SCORING = """
import signal, sys
from pathlib import Path
from harness.config.tasks import load_task_file
from harness.data import load_task_data
from harness.pipeline.outputs_file import outputs_scoring_pool, score_outputs_file
from harness.scoring import chunks
chunks.CHUNK_SAMPLES = int(sys.argv[4])
task = load_task_file(Path(sys.argv[1]))
signal.signal(signal.SIGTERM, lambda *args: None)  # a caller's handler (an event loop's): not the workers'
def handler_in_worker(scorer, encoder, item):
    return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
with outputs_scoring_pool(task, Path(sys.argv[2]), workers=2) as pool:
    print(pool.start_method, *pool.in_order(handler_in_worker, [None]))
    score_outputs_file(task, load_task_data(task), Path(sys.argv[2]), Path(sys.argv[3]), "m", pool=pool)
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="threads are counted in /proc: elsewhere workers are spawned")
def test_an_outputs_pool_forks_its_workers_only_while_this_process_runs_one_thread(
    tmp_path: Path, small_chunks: None, fixture_catalogue: None,
) -> None:
    """Forked workers start without importing onkobench again; a process with another thread (an engine's, a
    library's) could be copied in the middle of a lock, so it spawns them as any pool does. The files are the same."""
    import subprocess
    import sys
    import threading

    from harness.scoring.workers import start_method

    task_file, outputs = clean_outputs(tmp_path)
    path = write_lines(tmp_path / "outputs.jsonl", lines_of(outputs))
    task = load_task_file(task_file)
    assert start_method(fork=False) == "spawn"
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert start_method(fork=True) == "spawn"
        with outputs_scoring_pool(task, path, workers=2) as pool:
            assert pool.start_method == "spawn"
            spawned = RunStore(score_outputs_file(task, load_task_data(task), path, tmp_path / "spawned", "m", pool=pool).folder)
    finally:
        stop.set()
        other.join()
    # this test process may hold threads of other tests: a fresh one runs one thread
    done = subprocess.run([sys.executable, "-c", FORKED_SCORING, str(task_file), str(path), str(tmp_path / "forked"),
                           str(CHUNK)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["fork", "True"]  # forked, without the parent's SIGTERM handler
    (forked,) = (RunStore(folder) for folder in (tmp_path / "forked").iterdir())
    same_run(forked, spawned)
