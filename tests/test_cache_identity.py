"""A stored output is reused only when model id, revision, adapter, reasoning, prompt, sampling and engine
version all match; changing any one of them runs the sample again."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_runner import ScriptedRunner

from harness.data import load_task_data
from harness.pipeline.run import run_task_variant
from harness.config.models import ModelConfig
from harness.config.tasks import load_task_file

BASE = {"name": "m", "runner": "vllm", "model_id": "org/model", "revision": "abc", "reasoning": False}
ADAPTER = {"name": "lora", "path": "lora", "base_model": "org/model", "rank": 8}


def run(task, out: Path, config: ModelConfig) -> int:
    from harness.pipeline.spec import RunSpec

    runner = ScriptedRunner({"a": "C61"})
    run_task_variant(RunSpec(task, task.variant("zero"), config, load_task_data(task)), out, lambda: runner, progress=False)
    return len(runner.seen)


@pytest.mark.parametrize(
    ("change", "value"),
    [("model_id", "org/other"), ("revision", "def"), ("adapter", ADAPTER), ("reasoning", True), ("dtype", "float16"),
     ("think_end", "</reasoning>"), ("engine", {"load_format": "dummy"})],
)
def test_model_identity_changes_rerun(mini_task_file: Path, tmp_path: Path, change: str, value) -> None:
    task = load_task_file(mini_task_file)
    base = {**BASE, "adapter": None}
    assert run(task, tmp_path, ModelConfig.model_validate(base)) == 5
    assert run(task, tmp_path, ModelConfig.model_validate(base)) == 0  # all reused
    changed = {**base, change: value}
    if change == "model_id":
        changed["adapter"] = None
    assert run(task, tmp_path, ModelConfig.model_validate(changed)) == 5


def test_prompt_and_sampling_changes_rerun(mini_task_file: Path, tmp_path: Path) -> None:
    config = ModelConfig.model_validate(BASE)
    assert run(load_task_file(mini_task_file), tmp_path, config) == 5
    text = mini_task_file.read_text(encoding="utf-8")
    mini_task_file.write_text(text.replace("generation: {max_tokens: 8,", "generation: {max_tokens: 9,"), encoding="utf-8")
    assert run(load_task_file(mini_task_file), tmp_path, config) == 5
    (mini_task_file.parent / "prompts" / "question.j2").write_text("Code: {{ sample.text }}", encoding="utf-8")
    assert run(load_task_file(mini_task_file), tmp_path, config) == 5
    assert run(load_task_file(mini_task_file), tmp_path, config) == 0


def test_engine_version_change_reruns(mini_task_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = load_task_file(mini_task_file)
    config = ModelConfig.model_validate(BASE)
    assert run(task, tmp_path, config) == 5
    monkeypatch.setattr(ModelConfig, "engine_version", lambda self: "vllm==99.0")
    assert run(task, tmp_path, config) == 5
