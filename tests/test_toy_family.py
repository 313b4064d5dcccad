"""Adding a family, a parser, a scorer and metrics, done once from outside harness/ (docs/architecture.md).

tests/support/toy_family.py registers a row schema, a parser, a scorer and two metrics; its task is
tests/fixtures/toy_family/tasks/toy/t_stage.yaml. Each test runs the real CLI in a fresh process, so the
family is found only the documented way, by ``ONKOBENCH_FAMILIES``, and never leaks into this process's
registries.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.files import FIXTURES, REPO_ROOT, TESTS, write_jsonl

TOY_TASKS = FIXTURES / "toy_family" / "tasks"
TOY_TASK_FILE = TOY_TASKS / "toy" / "t_stage.yaml"
FAMILY_MODULE = "support.toy_family"  # importable because tests/ is on PYTHONPATH

# gold T stages: a 2, b 3, c 1, d 1, e 3, f 4 (tests/fixtures/toy_family/tasks/toy/data/stages.jsonl)
OUTPUTS = [
    {"id": "a", "output": "T2"},        # 2 vs 2: correct, near, distance 0
    {"id": "b", "output": "pT4"},       # 4 vs 3: near, distance 1
    {"id": "c", "output": "T3"},        # 3 vs 1: distance 2, not near
    {"id": "d", "output": "pT5"},       # above max_stage 4: malformed
    {"id": "e", "output": ""},          # empty (counts as malformed)
    {"id": "f", "output": "ypT4b N1"},  # 4 vs 4: correct, near, distance 0
]
# by hand:
#   toy_near_stage          = near / all samples = (a, b, f) 3 / 6 = 0.5; Wilson 95 % interval with z = 1.959964:
#                             centre 0.5, half-width z * sqrt(0.5 * 0.5 / 6 + z**2 / (4 * 36)) / (1 + z**2 / 6) = 0.312384
#   toy_mean_stage_distance = mean of the well-formed distances (0 + 1 + 2 + 0) / 4 = 0.75, n = 4
#   accuracy                = (a, f) 2 / 6 = 0.333;  p_malformed = (d, e) 2 / 6 = 0.333


def cli(*args: str, cwd: Path, family: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ONKOBENCH_FAMILIES"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(TESTS)])
    env["ONKOBENCH_TASKS_DIR"] = str(TOY_TASKS)
    if family:
        env["ONKOBENCH_FAMILIES"] = FAMILY_MODULE
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_the_family_task_is_listed_and_valid(tmp_path: Path) -> None:
    tasks = cli("tasks", cwd=tmp_path)
    assert tasks.returncode == 0, tasks.stderr
    assert tasks.stdout.splitlines()[0].startswith("toy.t_stage (v1) [synthetic data]: six hand-written diagnoses")

    metrics = cli("list", "metrics", cwd=tmp_path)
    assert metrics.returncode == 0, metrics.stderr
    rows = {line.split(maxsplit=1)[0]: line.split(maxsplit=1)[1] for line in metrics.stdout.splitlines()}
    assert rows["toy_near_stage"].startswith("Toy: share of all samples whose T stage is within the scorer's tolerance")
    assert rows["toy_mean_stage_distance"].startswith("Toy: mean number of stages off")
    assert "accuracy" in rows  # the generic metrics stay
    parsers = cli("list", "parsers", cwd=tmp_path)
    assert "toy_t_stage" in parsers.stdout and "Toy: the first TNM T category" in parsers.stdout
    assert "toy_stage_distance" in cli("list", "scorers", cwd=tmp_path).stdout

    validated = cli("validate", str(TOY_TASK_FILE), cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.strip() == "ok: 1 task"


def test_scoring_with_the_family_matches_hand_arithmetic(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "outputs.jsonl", OUTPUTS)
    result = cli("score", "--task", "toy.t_stage", "--outputs", "outputs.jsonl", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines() if line.startswith("  ")}
    assert printed == {"toy_near_stage": "0.500", "toy_mean_stage_distance": "0.750", "accuracy": "0.333",
                       "p_malformed": "0.333"}
    assert "statuses {'empty': 1, 'malformed': 1, 'ok': 4}" in result.stdout

    summary = json.loads((tmp_path / "out" / "toy.t_stage--external--outputs" / "summary.json").read_text(encoding="utf-8"))
    assert summary["primary_metric"] == "toy_near_stage" and summary["family"] == "toy"
    near = summary["metrics"]["toy_near_stage"]
    assert (near["value"], near["n"], near["method"]) == (0.5, 6, "wilson")
    assert (near["lo"], near["hi"]) == pytest.approx(wilson(3, 6), abs=1e-5)
    assert (near["lo"], near["hi"]) == pytest.approx((0.5 - 0.312384, 0.5 + 0.312384), abs=1e-5)
    distance = summary["metrics"]["toy_mean_stage_distance"]
    assert (distance["value"], distance["n"], distance["method"]) == (0.75, 4, "bootstrap")
    assert 0.0 <= distance["lo"] <= 0.75 <= distance["hi"] <= 2.0  # resampled means of {0, 1, 2, 0}
    assert summary["metrics"]["accuracy"]["value"] == pytest.approx(2 / 6, abs=1e-6)
    assert summary["metrics"]["p_malformed"]["value"] == pytest.approx(2 / 6, abs=1e-6)

    scores = {row["sample_id"]: row for row in map(json.loads, (tmp_path / "out" / "toy.t_stage--external--outputs" / "scores.jsonl")
                                                   .read_text(encoding="utf-8").splitlines())}
    assert scores["b"]["values"] == {"correct": 0, "near": 1, "distance": 1, "gold": 3}
    assert (scores["d"]["status"], scores["d"]["reason"]) == ("malformed", "T5 is above T4")
    assert scores["e"]["status"] == "empty"


def test_without_the_family_its_components_are_unknown(tmp_path: Path) -> None:
    metrics = cli("list", "metrics", cwd=tmp_path, family=False)
    assert metrics.returncode == 0 and "toy_near_stage" not in metrics.stdout

    validated = cli("validate", str(TOY_TASK_FILE), cwd=tmp_path, family=False)
    assert validated.returncode == 2
    assert f"{TOY_TASK_FILE}: metrics: unknown metric 'toy_near_stage'" in validated.stderr
    assert f"{TOY_TASK_FILE}: parser.name: unknown parser 'toy_t_stage'" in validated.stderr
    assert f"{TOY_TASK_FILE}: scorer.name: unknown scorer 'toy_stage_distance'" in validated.stderr

    write_jsonl(tmp_path / "outputs.jsonl", OUTPUTS)
    scored = cli("score", "--task", "toy.t_stage", "--outputs", "outputs.jsonl", "--out", "out", cwd=tmp_path, family=False)
    assert scored.returncode == 2
    assert scored.stderr.startswith("error: unknown row schema 'toy_tnm'") and "Traceback" not in scored.stderr
    assert not (tmp_path / "out").exists()


def test_a_runner_added_by_the_family_runs_a_model_config(tmp_path: Path) -> None:
    config = tmp_path / "toy-rule.yaml"
    config.write_text("name: toy-rule\nrunner: toy_rule\noptions: {offset: 1}\n", encoding="utf-8")
    listed = cli("list", "runners", cwd=tmp_path)
    assert "toy_rule" in listed.stdout and "Toy: answers with the T category" in listed.stdout

    result = cli("run", "--task", "toy.t_stage", "--model", str(config), "--out", "runs", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # the text's stage lowered by one: a T1 (gold 2), b T2 (3), c T0 (1), d T0 (1), e T2 (3), f T3 (4):
    # every answer one stage off -> near 6/6, distance 1 each, accuracy 0
    summary = json.loads((tmp_path / "runs" / "toy.t_stage--zero--toy-rule" / "summary.json").read_text(encoding="utf-8"))
    assert summary["metrics"]["toy_near_stage"]["value"] == 1.0
    assert summary["metrics"]["toy_mean_stage_distance"]["value"] == 1.0
    assert summary["metrics"]["accuracy"]["value"] == 0.0
    manifest = json.loads((tmp_path / "runs" / "toy.t_stage--zero--toy-rule" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"] == {"engine": "toy_rule", "offset": 1}

    unknown = cli("run", "--task", "toy.t_stage", "--model", str(config), "--out", "runs", cwd=tmp_path, family=False)
    assert unknown.returncode == 2 and "unknown runner 'toy_rule'" in unknown.stderr
