"""SIGKILL at random points of a run, twenty times, then resume: every sample exactly once and the same
metrics as an uninterrupted run. A full disk stops a run cleanly and a rerun completes it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_runner import ScriptedRunner
from kill_target import ANSWERS

from harness.data import load_task_data
from harness.pipeline.run import run_task_variant
from harness.config.models import ModelConfig
from harness.config.tasks import load_task_file

from support.files import write_jsonl

HERE = Path(__file__).resolve().parent
N = 200


def dataset(tmp_path: Path) -> Path:
    codes = ["C61", "C34.1", "C50.9", "C67.2"]
    return write_jsonl(tmp_path / "many.jsonl", [{"id": f"s{i:03d}", "text": f"Diagnose {i}", "code": codes[i % 4]} for i in range(N)])


def command(task_file: Path, out: Path, delay: float, data: Path) -> list[str]:
    return [sys.executable, str(HERE / "kill_target.py"), str(task_file), str(out), str(delay), str(data)]


@pytest.mark.slow
def test_twenty_random_kills_then_resume(mini_task_file: Path, tmp_path: Path) -> None:
    data = dataset(tmp_path)
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    rng = random.Random(2026)
    killed_with_progress = 0
    responses = out / "mini.coding--zero--scripted" / "responses.jsonl"
    for _ in range(20):
        before = responses.read_text(encoding="utf-8").count("\n") if responses.exists() else 0
        size = responses.stat().st_size if responses.exists() else 0
        proc = subprocess.Popen(command(mini_task_file, out, 0.01, data), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # wait until the run has started generating, then kill at a random moment of it
        start = time.monotonic()
        while time.monotonic() - start < 30 and not (responses.exists() and responses.stat().st_size > size) and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = responses.read_text(encoding="utf-8").count("\n") if responses.exists() else 0
        killed_with_progress += after > before
        if responses.exists():  # a line torn by the kill is only ever the last one
            lines = responses.read_bytes().split(b"\n")
            for line in lines[:-1]:
                json.loads(line)
    assert killed_with_progress >= 3, "the kills never landed mid-run"
    subprocess.run(command(mini_task_file, out, 0.0, data), env=env, check=True, capture_output=True)
    keys = [json.loads(line)["sample_id"] for line in responses.read_text(encoding="utf-8").splitlines()]
    assert sorted(keys) == sorted(f"s{i:03d}" for i in range(N))  # each exactly once
    resumed = json.loads((responses.parent / "summary.json").read_text(encoding="utf-8"))
    from harness.pipeline.spec import RunSpec

    task = load_task_file(mini_task_file)
    spec = RunSpec(task, task.variant("zero"), ModelConfig(name="scripted", runner="baseline"), load_task_data(task, data))
    fresh = run_task_variant(spec, tmp_path / "fresh", lambda: ScriptedRunner(ANSWERS), progress=False)
    assert resumed["metrics"] == fresh.summary.model_dump(mode="json")["metrics"]


DISK_FULL = r"""
import resource, runpy, signal, sys
*args, limit = sys.argv[1:]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing the process
resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
sys.argv = args
runpy.run_module("harness.cli", run_name="__main__")
"""


def test_full_disk_stops_cleanly_then_resumes(mini_task_file: Path, tmp_path: Path) -> None:
    data = dataset(tmp_path)
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    cli = [sys.executable, "-m", "harness.cli", "run", "--task", str(mini_task_file), "--variant", "zero", "--data", str(data),
           "--model", "baseline-lexicon-exact", "--out", str(out), "--no-progress"]
    limit = "20000"  # files may grow to 20 kB only: the manifest fits, the responses do not
    result = subprocess.run([sys.executable, "-c", DISK_FULL, "onkobench", *cli[3:], limit],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "no space left to write" in result.stderr and "rerun the same command" in result.stderr
    assert "Traceback" not in result.stderr
    responses = out / "mini.coding--zero--baseline-lexicon-exact" / "responses.jsonl"
    assert 0 < responses.stat().st_size <= int(limit)
    subprocess.run(cli, env=env, check=True, capture_output=True)  # space again: the rerun completes
    keys = [json.loads(line)["sample_id"] for line in responses.read_text(encoding="utf-8").splitlines()]
    assert sorted(keys) == sorted(f"s{i:03d}" for i in range(N))
    assert json.loads((responses.parent / "manifest.json").read_text(encoding="utf-8"))["finished_at"]
