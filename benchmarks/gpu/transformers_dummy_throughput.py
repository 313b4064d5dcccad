"""GPU check without vLLM: onkobench's transformers runner vs a bare ``model.generate`` loop, same model, same chats.

The lent H200 has torch and transformers but no vLLM and no network (see README.md), so this is the GPU
figure that can be had there. The model is the Llama-3.1-8B shape of ``vllm_dummy_throughput.py`` (32 layers,
hidden 4096, GQA 32/8, MLP 14336) with random bf16 weights and the small test tokenizer (vocabulary ~512:
the output projection is small, the transformer body full size). The weights are drawn on the GPU, saved
as safetensors once, and loaded through ``TransformersRunner.__init__`` (the real load path; its time is
reported). On the demo task ``demo.icd10gm_coding``, variants ``0`` and ``3-shot``, 60 x ``--repeat``
items (max_tokens 12 and stop "\\n" from the task), each round times:

* bare: the chats rendered with the tokenizer's chat template, left-padded batches of the runner's batch
  size in data order, greedy ``model.generate`` with the same max_new_tokens and stop strings, decode,
  texts to a JSONL file;
* onkobench: ``run_task_variant`` (render, keys, stored responses, parse, score, summary) in a fresh run
  folder, the loaded runner handed in.

Rounds alternate bare/onkobench so drift hits both; medians, the ratio onkobench / bare, onkobench's own
ms per prompt ((onkobench - bare) / N), requests/s and output tokens/s go to ``--out`` (JSON) and stdout.

    python benchmarks/gpu/transformers_dummy_throughput.py --out "$OUT/gpu-transformers.json"      # H200
    python benchmarks/gpu/transformers_dummy_throughput.py --tiny --out /tmp/t.json --repeat 1       # CPU check
    python benchmarks/gpu/transformers_dummy_throughput.py --layers 2 --hidden 256 --out /tmp/t.json --repeat 1
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _path in (ROOT, ROOT / "tests", ROOT / "benchmarks", HERE):
    sys.path.insert(0, str(_path))

from vllm_dummy_throughput import LLAMA_8B_SHAPE, build_model, write_results

VARIANTS = ("0", "3-shot")


def _sync(torch) -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def build_random_model(work: Path, layers: int, hidden: int, device: str, dtype) -> tuple[Path, float]:
    """The 8B-shape folder (``build_model``), cut to ``layers`` / ``hidden``, with random weights saved once."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = build_model(work / f"layers{layers}-hidden{hidden}")
    if any(folder.glob("*.safetensors")):
        return folder, 0.0
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    heads = hidden // LLAMA_8B_SHAPE["head_dim"]
    config.update(num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads,
                  num_key_value_heads=max(1, heads * LLAMA_8B_SHAPE["num_key_value_heads"] // LLAMA_8B_SHAPE["num_attention_heads"]),
                  intermediate_size=hidden * LLAMA_8B_SHAPE["intermediate_size"] // LLAMA_8B_SHAPE["hidden_size"],
                  torch_dtype=str(dtype).removeprefix("torch."))
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    started = time.perf_counter()
    torch.manual_seed(0)
    with torch.device(device):  # drawn where it runs: 8B random numbers on a CPU take minutes
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder), dtype=dtype)
    model.save_pretrained(folder, safe_serialization=True)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return folder, time.perf_counter() - started


def bare_generate(runner, requests, path: Path) -> tuple[float, int]:
    """What a plain script does with the same model: wall seconds and output tokens (up to EOS/pad)."""
    torch, tokenizer, model = runner.torch, runner.tokenizer, runner.model
    sampling = requests[0].sampling
    kwargs = {"max_new_tokens": sampling.max_tokens, "do_sample": False, "temperature": None, "top_p": None,
              "top_k": None, "pad_token_id": tokenizer.pad_token_id}
    if sampling.stop:
        kwargs.update(stop_strings=list(sampling.stop), tokenizer=tokenizer)
    end_ids = torch.tensor(sorted({tokenizer.eos_token_id, tokenizer.pad_token_id}), device=runner.device)
    _sync(torch)
    started = time.perf_counter()
    n_output = 0
    texts = [tokenizer.apply_chat_template(list(r.messages), tokenize=False, add_generation_prompt=True,
                                           **r.chat_template_kwargs) for r in requests]
    with path.open("w", encoding="utf-8") as handle, torch.inference_mode():
        for start in range(0, len(requests), runner.batch_size):
            encoded = tokenizer(texts[start : start + runner.batch_size], return_tensors="pt", padding=True,
                                add_special_tokens=False).to(runner.device)
            output = model.generate(**encoded, **kwargs)[:, encoded["input_ids"].shape[1] :]
            ended = torch.isin(output, end_ids)
            n_output += int(torch.where(ended.any(1), ended.int().argmax(1), output.shape[1]).sum())
            for request, tokens in zip(requests[start : start + runner.batch_size], output):
                text = tokenizer.decode(tokens, skip_special_tokens=True)
                for stop in sampling.stop:
                    text = text.split(stop)[0]
                handle.write(json.dumps({"id": request.sample_id, "output": text}, ensure_ascii=False) + "\n")
    _sync(torch)
    return time.perf_counter() - started, n_output


def onkobench_run(runner, spec, out_dir: Path) -> tuple[float, int]:
    """The full pipeline in a fresh folder: wall seconds and output tokens (from the stored responses)."""
    from harness.pipeline.run import run_task_variant

    shutil.rmtree(out_dir, ignore_errors=True)
    _sync(runner.torch)
    started = time.perf_counter()
    outcome = run_task_variant(spec, out_dir, get_runner=lambda: runner, progress=False)
    _sync(runner.torch)
    wall = time.perf_counter() - started
    rows = [json.loads(line) for line in (outcome.folder / "responses.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(spec.data.samples) and not any(r.get("error") for r in rows), "onkobench run incomplete"
    return wall, sum(r.get("n_output_tokens") or 0 for r in rows)


def measure_variant(runner, task, variant_name: str, data, config, config_dir: Path, work: Path, rounds: int) -> dict:
    from harness.pipeline.spec import RunSpec
    from harness.prompts import build_requests

    variant = task.variant(variant_name)
    requests = build_requests(task, variant, data.samples, config)
    spec = RunSpec(task, variant, config, data, config_dir)
    # one untimed pass: every batch shape once (kernel choice, allocator, cuBLAS), so round 0 is not the outlier
    bare_generate(runner, requests, work / f"warm-up-{variant_name}.jsonl")
    bare_s, onko_s, bare_tokens, onko_tokens = [], [], 0, 0
    for index in range(rounds):
        wall, bare_tokens = bare_generate(runner, requests, work / f"bare-{variant_name}-{index}.jsonl")
        bare_s.append(wall)
        wall, onko_tokens = onkobench_run(runner, spec, work / f"runs-{variant_name}-{index}")
        onko_s.append(wall)
    n = len(requests)
    bare, onko = statistics.median(bare_s), statistics.median(onko_s)
    prompt_tokens = [len(runner.tokenizer(runner._prompt(r), add_special_tokens=False)["input_ids"]) for r in requests]
    return {
        "requests": n, "max_tokens": requests[0].sampling.max_tokens, "stop": list(requests[0].sampling.stop),
        "prompt_tokens_mean": round(statistics.mean(prompt_tokens), 1), "prompt_tokens_max": max(prompt_tokens),
        "bare_s": [round(x, 3) for x in bare_s], "onkobench_s": [round(x, 3) for x in onko_s],
        "bare_median_s": round(bare, 3), "onkobench_median_s": round(onko, 3), "ratio_onkobench_to_bare": round(onko / bare, 3),
        "onkobench_own_ms_per_prompt": round(1000 * (onko - bare) / n, 2),
        "bare_requests_per_s": round(n / bare, 1), "onkobench_requests_per_s": round(n / onko, 1),
        "bare_output_tokens": bare_tokens, "onkobench_output_tokens": onko_tokens,
        "bare_output_tokens_per_s": round(bare_tokens / bare, 1), "onkobench_output_tokens_per_s": round(onko_tokens / onko, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=4, help="copies of the 60 demo items per variant")
    parser.add_argument("--rounds", type=int, default=3, help="bare/onkobench pairs per variant (medians reported)")
    parser.add_argument("--batch-size", type=int, default=32, help="the runner's options.batch_size; bare uses the same")
    parser.add_argument("--layers", type=int, default=LLAMA_8B_SHAPE["num_hidden_layers"])
    parser.add_argument("--hidden", type=int, default=LLAMA_8B_SHAPE["hidden_size"],
                        help="hidden size (heads and MLP scale with it; a multiple of 128), for a small CPU check")
    parser.add_argument("--tiny", action="store_true", help="the tiny test Llama instead (a CPU check of this script)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/onkobench-gpu-hf"))
    args = parser.parse_args()

    import torch
    import transformers
    from _tiny import TASK, demo_data
    from support.tiny_models import build_tiny_llama

    from harness.config.models import ModelConfig
    from harness.config.tasks import load_task
    from harness.data import load_task_data
    from harness.runners.transformers import TransformersRunner

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    args.work.mkdir(parents=True, exist_ok=True)
    if args.tiny:
        folder, build_s = build_tiny_llama(args.work / "tiny"), 0.0
    else:
        folder, build_s = build_random_model(args.work, args.layers, args.hidden, device, dtype)
    config = ModelConfig.model_validate({
        "name": "tiny" if args.tiny else f"llama8b-shape-random-l{args.layers}-h{args.hidden}", "runner": "transformers",
        "model_id": str(folder), "revision": "local", "dtype": str(dtype).removeprefix("torch."),
        "options": {"batch_size": args.batch_size},
    })
    _sync(torch)
    started = time.perf_counter()
    runner = TransformersRunner(config, folder.parent)
    _sync(torch)
    load_s = time.perf_counter() - started
    task = load_task(TASK)
    data = load_task_data(task, demo_data(args.work, args.repeat))
    model_config = runner.model.config
    results = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else f"cpu {platform.processor() or platform.machine()}",
        "torch": torch.__version__, "transformers": transformers.__version__, "cuda": torch.version.cuda,
        "python": platform.python_version(), "dtype": config.dtype, "batch_size": runner.batch_size,
        "model": "tiny test Llama" if args.tiny else "Llama-3.1-8B shape, random weights",
        "shape": {k: getattr(model_config, k) for k in ("num_hidden_layers", "hidden_size", "intermediate_size",
                                                         "num_attention_heads", "num_key_value_heads", "vocab_size")},
        "n_parameters": sum(p.numel() for p in runner.model.parameters()),
        "weights_build_s": round(build_s, 2), "runner_load_s": round(load_s, 2),
        "task": TASK, "n_samples": len(data.samples), "rounds": args.rounds, "variants": {},
    }
    print(f"{results['device']}: model loaded through TransformersRunner in {load_s:.1f} s "
          f"(weights built in {build_s:.1f} s), {results['n_parameters'] / 1e6:.1f} M parameters", flush=True)
    for name in VARIANTS:
        results["variants"][name] = measure_variant(runner, task, name, data, config, folder.parent, args.work, args.rounds)
        row = results["variants"][name]
        print(f"[{name}] bare {row['bare_median_s']} s, onkobench {row['onkobench_median_s']} s, ratio "
              f"{row['ratio_onkobench_to_bare']}, own {row['onkobench_own_ms_per_prompt']} ms/prompt", flush=True)
    if device == "cuda":
        results["gpu_peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    runner.close()
    write_results(args.out, results)


if __name__ == "__main__":
    main()
