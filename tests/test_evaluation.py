from __future__ import annotations

import json
import os
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

from support.files import read_jsonl

CONFIG = ModelConfig(name="scripted", runner="baseline")
HERE = Path(__file__).resolve().parent


def run(task_file: Path, out: Path, runner: ScriptedRunner, variant: str = "zero"):
    from harness.pipeline.spec import RunSpec

    task = load_task_file(task_file)
    spec = RunSpec(task, task.variant(variant), CONFIG, load_task_data(task))
    return run_task_variant(spec, out, lambda: runner, progress=False)


def test_run_writes_manifest_responses_scores_summary(mini_task_file: Path, tmp_path: Path) -> None:
    outcome = run(mini_task_file, tmp_path, ScriptedRunner(ANSWERS))
    folder = outcome.folder
    assert folder.name == "mini.coding--zero--scripted"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["task"] == "mini.coding" and manifest["task_version"] == 2
    assert manifest["dataset"]["fingerprint"] and manifest["prompt_template_hash"]
    assert manifest["generation"]["max_tokens"] == 8 and manifest["finished_at"]
    assert "pydantic" in manifest["packages"] and manifest["hardware"]["cpu_count"] >= 1
    responses = read_jsonl(folder / "responses.jsonl")
    assert sorted(r["sample_id"] for r in responses) == ["a", "b", "c", "d", "e"]
    assert all(r["messages_hash"] and r["latency_s"] is not None for r in responses)
    scores = {s["sample_id"]: s for s in read_jsonl(folder / "scores.jsonl")}
    assert scores["c"]["answer"] == "C34.1" and scores["c"]["values"]["correct"] == 1
    assert scores["d"]["status"] == "malformed"
    assert scores["b"]["values"] == {"correct": 0, "partial": 1, "gold": "C67.2"}
    metrics = outcome.summary.metrics
    # exact: a, c, e -> 3/5; partial adds b (C67.9 vs gold C67.2) -> 4/5; d is malformed -> 3 of 4 well-formed
    assert metrics["accuracy"].value == pytest.approx(3 / 5)
    assert metrics["partial_accuracy"].value == pytest.approx(4 / 5)
    assert metrics["p_malformed"].value == pytest.approx(1 / 5)
    assert metrics["accuracy_wellformed"].value == pytest.approx(3 / 4)


def test_rerun_reuses_everything(mini_task_file: Path, tmp_path: Path) -> None:
    run(mini_task_file, tmp_path, ScriptedRunner(ANSWERS))
    second = ScriptedRunner(ANSWERS)
    outcome = run(mini_task_file, tmp_path, second)
    assert second.seen == [] and outcome.n_reused == 5


def test_crash_mid_run_then_resume_each_sample_once(mini_task_file: Path, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(mini_task_file, tmp_path, ScriptedRunner(ANSWERS, fail_after=2))
    folder = tmp_path / "mini.coding--zero--scripted"
    assert len(read_jsonl(folder / "responses.jsonl")) == 2  # what finished before the crash is kept
    resumed = ScriptedRunner(ANSWERS)
    outcome = run(mini_task_file, tmp_path, resumed)
    assert len(resumed.seen) == 3
    ids = [r["sample_id"] for r in read_jsonl(folder / "responses.jsonl")]
    assert sorted(ids) == ["a", "b", "c", "d", "e"]
    fresh = run(mini_task_file, tmp_path / "fresh", ScriptedRunner(ANSWERS))
    assert outcome.summary.metrics == fresh.summary.metrics


def test_changed_prompt_reruns(mini_task_file: Path, tmp_path: Path) -> None:
    run(mini_task_file, tmp_path, ScriptedRunner(ANSWERS))
    (mini_task_file.parent / "prompts" / "question.j2").write_text("Neu: {{ sample.text }}", encoding="utf-8")
    again = ScriptedRunner(ANSWERS)
    outcome = run(mini_task_file, tmp_path, again)
    assert len(again.seen) == 5
    assert outcome.summary.n_samples == 5  # old lines stay in the file but are not scored


def test_sigkill_mid_run_then_resume(mini_task_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    responses = out / "mini.coding--zero--scripted" / "responses.jsonl"
    command = [sys.executable, str(HERE / "kill_target.py"), str(mini_task_file), str(out)]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    for _ in range(3):
        proc = subprocess.Popen([*command, "0.4"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if responses.exists() and responses.read_text(encoding="utf-8").count("\n") >= 1:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finished = subprocess.run([*command, "0"], env=env, capture_output=True, text=True, check=True)
    assert float(finished.stdout.strip()) == pytest.approx(3 / 5)
    ids = [json.loads(line)["sample_id"] for line in responses.read_text(encoding="utf-8").splitlines()]
    assert sorted(ids) == ["a", "b", "c", "d", "e"]
