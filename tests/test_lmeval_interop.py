"""onkobench tasks exported to lm-eval: lm-eval loads them, builds onkobench's chats, and its scores equal ours."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.data import load_task_data
from harness.lmeval.export import export_lmeval
from harness.prompts import PromptRenderer
from harness.scoring import ModelOutput, compute_metrics, score_samples
from harness.config.tasks import load_all_tasks

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (the lmeval extra)")

TASK = "demo.icd10gm_coding"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _exported(tmp_path: Path, variant: str):
    task = load_all_tasks()[TASK]
    data = load_task_data(task)
    return task, data, export_lmeval(task, variant, data, tmp_path / "lmeval-tasks")


def _lmeval_task(export):
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(export.folder), include_defaults=False)
    assert export.name in manager.all_tasks
    return manager.load([export.name])["tasks"][export.name]


@pytest.mark.parametrize("variant", ["0", "3-shot"])
def test_task_manager_builds_onkobench_chats(tmp_path: Path, variant: str) -> None:
    task, data, export = _exported(tmp_path, variant)
    lm_task = _lmeval_task(export)
    docs = list(lm_task.test_docs())
    assert len(docs) == len(data.samples)
    renderer = PromptRenderer(task, task.variant(variant))
    for doc, sample in zip(docs, data.samples):
        messages = lm_task.fewshot_context(
            doc, num_fewshot=lm_task.config.num_fewshot or 0, apply_chat_template=True, fewshot_as_multiturn=True,
            chat_template=lambda turns, add_generation_prompt=True: turns,
        )
        assert messages == renderer.messages(sample), sample.id


def test_process_results_and_aggregation_equal_onkobench_scoring(tmp_path: Path) -> None:
    task, data, export = _exported(tmp_path, "0")
    lm_task = _lmeval_task(export)
    docs = list(lm_task.test_docs())
    # right, right at three characters, malformed, several codes, empty: a bit of everything
    answers = [s.target if i % 5 == 0 else s.target[:3] + ".9" if i % 5 == 1 else "keine Ahnung" if i % 5 == 2
               else f"{s.target} oder C80.9" if i % 5 == 3 else "" for i, s in enumerate(data.samples)]
    per_doc = [lm_task.process_results(doc, [text]) for doc, text in zip(docs, answers)]
    ours = compute_metrics(task.metrics, score_samples(task, data.samples, {s.id: [ModelOutput(a)] for s, a in zip(data.samples, answers)}))
    for metric in task.metrics:
        theirs = lm_task.aggregation()[metric]([values[metric] for values in per_doc])
        assert _same(theirs, ours[metric].value), metric
    assert 0 < ours["accuracy"].value < ours["partial_accuracy"].value < 1


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return a == pytest.approx(b, abs=1e-6)


def run_lm_eval(model_args: list[str], export, out: Path) -> tuple[dict, Path]:
    """``lm_eval run`` with --include_path and --log_samples; returns the task's results and the samples log."""
    command = [str(Path(sys.executable).parent / "lm_eval"), "run", *model_args, "--include_path", str(export.folder),
               "--tasks", export.name, "--apply_chat_template", "--log_samples", "--output_path", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **OFFLINE}, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text(encoding="utf-8"))
    return results["results"][export.name], next(out.rglob(f"samples_{export.name}_*.jsonl"))


def score_log(samples: Path, variant: str, out: Path) -> dict:
    from click.testing import CliRunner

    from harness.cli import main

    result = CliRunner().invoke(main, ["score", "--task", TASK, "--variant", variant, "--lm-eval-samples", str(samples),
                                       "--name", "lmeval", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(next(out.rglob("summary.json")).read_text(encoding="utf-8"))


def assert_scores_equal(printed: dict, summary: dict, metrics: list[str]) -> None:
    for metric in metrics:
        assert _same(printed[f"{metric},none"], summary["metrics"][metric]["value"]), metric


@pytest.mark.slow
def test_hf_backend_run_scores_equal_and_prompts_are_the_chat_template(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from support.tiny_models import build_tiny_llama

    model = build_tiny_llama(tmp_path / "llama")
    task, data, export = _exported(tmp_path, "3-shot")
    printed, samples = run_lm_eval(["--model", "hf", "--model_args", f"pretrained={model},dtype=float32", "--device", "cpu",
                                    "--batch_size", "8"], export, tmp_path / "out")
    logged = [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines()]
    assert len(logged) == len(data.samples)
    tokenizer = AutoTokenizer.from_pretrained(model)
    renderer = PromptRenderer(task, task.variant("3-shot"))
    for row in logged:  # lm-eval's prompt is the model's chat template over onkobench's turns
        messages = renderer.messages(data.by_id[row["doc"]["id"]])
        expected = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        assert row["arguments"]["gen_args_0"]["arg_0"] == expected
    summary = score_log(samples, "3-shot", tmp_path / "scored")
    assert summary["n_samples"] == len(data.samples) and "missing" not in summary["status_counts"]
    assert_scores_equal(printed, summary, task.metrics)


def test_gated_data_set_is_referenced_not_copied(tmp_path: Path) -> None:
    import yaml

    from harness.cli import main
    from click.testing import CliRunner

    snippets = Path(__file__).parent / "fixtures" / "tasks" / "mini" / "data" / "snippets.jsonl"
    out = tmp_path / "export"
    result = CliRunner().invoke(main, ["export", "lm-eval", "--task", "urollmeval.step1", "--variant", "2-uro",
                                       "--data", str(snippets), "--out", str(out)])
    assert result.exit_code == 0, result.output
    config = yaml.load(next(out.glob("*.yaml")).read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    task = load_all_tasks()["urollmeval.step1"]
    assert config["dataset_path"] == task.dataset.hub.repo and "data_files" not in json.dumps(config)
    written = "".join(p.read_text(encoding="utf-8") for p in out.iterdir())
    for row in (json.loads(line) for line in snippets.read_text(encoding="utf-8").splitlines() if line.strip()):
        assert row["text"] not in written  # no snippet in the export: examples are the study's own
    assert json.loads(next(out.glob("*.json")).read_text(encoding="utf-8"))["shots"]  # two example turns kept


@pytest.mark.parametrize(("task", "variant", "message"), [
    ("urollmeval.step3", "0-verify", "several queries"), ("urollmeval.step2", "0-uro", "chained step"),
])
def test_tasks_lm_eval_cannot_express_are_refused(tmp_path: Path, task: str, variant: str, message: str) -> None:
    from click.testing import CliRunner

    from harness.cli import main

    snippets = Path(__file__).parent / "fixtures" / "tasks" / "mini" / "data" / "snippets.jsonl"
    result = CliRunner().invoke(main, ["export", "lm-eval", "--task", task, "--variant", variant, "--data", str(snippets),
                                       "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "x").exists()


def test_task_file_outside_the_tasks_folder(tmp_path: Path, mini_task_file: Path) -> None:
    from click.testing import CliRunner

    from harness.cli import main
    from harness.lmeval.bridge import LmEvalBridge
    from harness.config.tasks import load_task

    result = CliRunner().invoke(main, ["export", "lm-eval", "--task", str(mini_task_file), "--variant", "zero",
                                       "--out", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    bridge = LmEvalBridge.from_file(next((tmp_path / "x").glob("*.json")))  # what lm-eval's process does
    task = load_task(str(mini_task_file))
    sample = load_task_data(task).samples[0]
    assert bridge.doc_to_text(dict(sample.fields)) == PromptRenderer(task, task.variant("zero")).messages(sample)[-1]["content"]


def test_metric_directions_in_the_export(tmp_path: Path) -> None:
    import yaml

    from harness.scoring import METRICS
    from harness.scoring.metrics import lower_is_better

    failures = {name for name in METRICS if lower_is_better(name)}
    assert {"p_malformed", "p_no_think_end", "p_error", "p_na", "p_C77_79", "p_hallucinated"} <= failures
    task, _, export = _exported(tmp_path, "0")
    config = yaml.load(export.yaml_path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    directions = {m["metric"]: m["higher_is_better"] for m in config["metric_list"]}
    assert directions == {"accuracy": "true", "partial_accuracy": "true", "accuracy_wellformed": "true",
                          "p_malformed": "false", "p_error": "false"}
    assert "p_same_block" not in failures and "p_hallucinated" in failures
