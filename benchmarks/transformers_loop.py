"""A UroLlmEval-style evaluation loop: transformers, a fixed batch size, greedy decoding (the comparison point).

    python benchmarks/transformers_loop.py MODEL_DIR PROMPTS.jsonl OUT.jsonl [--batch-size 8]

PROMPTS.jsonl holds {"id", "messages", "max_tokens", "stop"} per line (written by vs_alternatives.py
from onkobench's own rendering, so all sides get the same chats).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def run(model_dir: Path, prompts: Path, out: Path, batch_size: int) -> dict:
    """Load, then generate batch by batch; returns the seconds of each."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    startup = time.perf_counter() - started
    started = time.perf_counter()
    rows = [json.loads(line) for line in prompts.read_text(encoding="utf-8").splitlines()]
    with out.open("w", encoding="utf-8") as handle, torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            texts = [tokenizer.apply_chat_template(r["messages"], add_generation_prompt=True, tokenize=False) for r in batch]
            encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            generated = model.generate(**encoded, max_new_tokens=batch[0]["max_tokens"], do_sample=False,
                                       pad_token_id=tokenizer.pad_token_id)
            for row, tokens in zip(batch, generated[:, encoded["input_ids"].shape[1]:]):
                text = tokenizer.decode(tokens, skip_special_tokens=True)
                for stop in row["stop"]:
                    text = text.split(stop)[0]
                handle.write(json.dumps({"id": row["id"], "output": text}, ensure_ascii=False) + "\n")
    return {"startup_s": startup, "run_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("prompts", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(run(args.model, args.prompts, args.out, args.batch_size)))


if __name__ == "__main__":
    main()
