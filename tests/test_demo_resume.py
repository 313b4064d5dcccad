"""Acceptance: killing the demo run mid-way and rerunning it completes with each sample exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ONKOBENCH = [sys.executable, "-m", "harness.cli"]


def test_kill_demo_run_and_rerun(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    command = [*ONKOBENCH, "run", "--suite", "demo", "--model", "smollm2-135m-instruct-cpu",
               "--limit", "3", "--out", str(out), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    # kill once the first run has stored something but the suite is not finished
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.stat().st_size > 0 for p in out.glob("*/responses.jsonl")):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the demo finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list(out.glob("*/summary.json")) or len(list(out.glob("*/summary.json"))) < 6
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=900)
    summaries = sorted(out.glob("*/summary.json"))
    assert len(summaries) == 6  # 3 tasks x 2 variants
    for summary_path in summaries:
        folder = summary_path.parent
        keys = [json.loads(line)["key"] for line in (folder / "responses.jsonl").read_text(encoding="utf-8").splitlines()]
        assert len(keys) == len(set(keys)) == 3, folder.name
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        assert summary["n_samples"] == 3 and "missing" not in summary["status_counts"]
