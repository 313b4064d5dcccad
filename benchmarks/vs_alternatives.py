"""The same task three ways: onkobench (vLLM), lm-eval's vllm backend, a UroLlmEval-style transformers loop.

    .venv-vllm/bin/python benchmarks/vs_alternatives.py [--copies 32] [--batch-size 8]

Each side runs in a fresh process that reports its start-up (model load, engine start) and its run
(prompts to scored outputs) apart: start-up on this CPU with a tiny local Llama is mostly vLLM's
engine start and says little about a GPU, the run phase is where the harnesses differ. lm-eval
runs the task as `onkobench export lm-eval` writes it (same chats, same scorer), so accuracies are
comparable too. Prints onkobench's speed-ups; the GPU side (prefix-cache-aware ordering, reasoning
on/off) is benchmarks/gpu/ on a lent device.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIDES = ("onkobench", "lm-eval", "transformers-loop")


def _prepared(work: Path) -> dict:
    return json.loads((work / "prepared.json").read_text(encoding="utf-8"))


def side_onkobench(work: Path) -> dict:
    from harness.data import load_task_data
    from harness.pipeline.run import run_task_variant
    from harness.pipeline.spec import RunSpec
    from harness.config.models import load_model_config
    from harness.runners.vllm import VLLMRunner
    from harness.config.tasks import load_task

    prep = _prepared(work)
    started = time.perf_counter()
    config, _ = load_model_config(prep["config"])
    runner = VLLMRunner(config, Path(prep["config"]).parent)
    startup = time.perf_counter() - started
    started = time.perf_counter()
    task = load_task(prep["task"])
    data = load_task_data(task, prep["data"])
    spec = RunSpec(task, task.variant(prep["variant"]), config, data, Path(prep["config"]).parent)
    outcome = run_task_variant(spec, work / "onkobench-runs", lambda: runner, progress=False)
    return {"startup_s": startup, "run_s": time.perf_counter() - started, "accuracy": outcome.summary.metrics["accuracy"].value}


def side_lmeval(work: Path) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.models.vllm_causallms import VLLM
    from lm_eval.tasks import TaskManager

    prep = _prepared(work)
    started = time.perf_counter()
    lm = VLLM(pretrained=prep["model"], dtype="float32", max_model_len=1024, enforce_eager=True, batch_size="auto", seed=0)
    startup = time.perf_counter() - started
    started = time.perf_counter()
    results = simple_evaluate(model=lm, tasks=[prep["lmeval_task"]], task_manager=TaskManager(include_path=prep["lmeval_dir"]),
                              apply_chat_template=True, fewshot_as_multiturn=True, log_samples=False, bootstrap_iters=0)
    accuracy = results["results"][prep["lmeval_task"]]["accuracy,none"]
    return {"startup_s": startup, "run_s": time.perf_counter() - started, "accuracy": accuracy}


def side_transformers_loop(work: Path, batch_size: int) -> dict:
    """Model load, then the loop of benchmarks/transformers_loop.py, then onkobench's scorer on its outputs."""
    import transformers_loop

    from harness.data import load_task_data
    from harness.pipeline.outputs_file import score_outputs_file
    from harness.config.tasks import load_task

    prep = _prepared(work)
    timings = transformers_loop.run(Path(prep["model"]), work / "prompts.jsonl", work / "loop-outputs.jsonl", batch_size)
    task = load_task(prep["task"])
    outcome = score_outputs_file(task, load_task_data(task, prep["data"]), work / "loop-outputs.jsonl", work / "loop-scored", "loop")
    return {**timings, "accuracy": outcome.summary.metrics["accuracy"].value}


def prepare(work: Path, copies: int, variant_name: str) -> int:
    from _tiny import TASK, demo_data, model_config_file, tiny_llama
    from harness.data import load_task_data
    from harness.config.models import load_model_config
    from harness.lmeval.export import export_lmeval
    from harness.prompts import build_requests
    from harness.config.tasks import load_task

    model = tiny_llama(work)
    config = model_config_file(work, model)
    data_path = demo_data(work, copies)
    task = load_task(TASK)
    data = load_task_data(task, data_path)
    variant = task.variant(variant_name)
    requests = build_requests(task, variant, data.samples, load_model_config(str(config))[0])
    with (work / "prompts.jsonl").open("w", encoding="utf-8") as handle:
        for r in requests:
            handle.write(json.dumps({"id": r.sample_id, "messages": list(r.messages), "max_tokens": r.sampling.max_tokens,
                                     "stop": list(r.sampling.stop)}, ensure_ascii=False) + "\n")
    export = export_lmeval(task, variant.name, data, work / "lmeval-task")
    (work / "prepared.json").write_text(json.dumps({
        "task": TASK, "variant": variant.name, "model": str(model), "config": str(config), "data": str(data_path),
        "lmeval_task": export.name, "lmeval_dir": str(export.folder)}), encoding="utf-8")
    return len(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=32, help="copies of the 60 demo diagnoses")
    parser.add_argument("--variant", default="3-shot")
    parser.add_argument("--batch-size", type=int, default=8, help="the transformers loop's fixed batch size")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    if args.side:  # one side, in its own process
        run = {"onkobench": side_onkobench, "lm-eval": side_lmeval,
               "transformers-loop": lambda w: side_transformers_loop(w, args.batch_size)}[args.side]
        print("RESULT " + json.dumps(run(args.work)))
        return
    work = Path(tempfile.mkdtemp(prefix="onkobench-alt-"))
    os.environ["ONKOBENCH_ALLOWED_PATHS"] = str(work)
    n = prepare(work, args.copies, args.variant)
    results = {}
    for side in SIDES:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--side", side, "--work", str(work), "--batch-size", str(args.batch_size)],
                              capture_output=True, text=True, env=os.environ.copy())
        line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
        if done.returncode != 0 or line is None:
            sys.exit(f"{side} failed:\n{(done.stdout + done.stderr)[-4000:]}")
        results[side] = {**json.loads(line[len("RESULT "):]), "process_s": time.perf_counter() - started}
    print(f"{n} prompts, {args.copies} x the demo diagnoses ({args.variant}), tiny local Llama, this CPU")
    print(f"{'side':<20} {'process s':>10} {'start-up s':>11} {'run s':>7} {'ms/prompt':>10} {'accuracy':>9}")
    for side, r in results.items():
        print(f"{side:<20} {r['process_s']:>10.1f} {r['startup_s']:>11.1f} {r['run_s']:>7.2f} {1000 * r['run_s'] / n:>10.2f} "
              f"{r['accuracy']:>9.3f}")
    base = results["onkobench"]
    for side in SIDES[1:]:
        print(f"onkobench speed-up vs {side}: x{results[side]['run_s'] / base['run_s']:.2f} in the run, "
              f"x{results[side]['process_s'] / base['process_s']:.2f} for the whole process")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
