"""Shared set-up of the CPU engine benchmarks: a tiny local Llama, a model config for it, a larger demo data set."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO_DATA = REPO / "tasks" / "demo" / "data" / "diagnoses.jsonl"
TASK = "demo.icd10gm_coding"


def tiny_llama(folder: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from support.tiny_models import build_tiny_llama

    return build_tiny_llama(folder / "llama")


def model_config_file(folder: Path, model: Path, name: str = "tiny-llama-vllm") -> Path:
    """A vllm model config for the tiny model; its folder is allowed for local model paths."""
    os.environ["ONKOBENCH_ALLOWED_PATHS"] = str(folder)
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nrunner: vllm\nmodel_id: {model}\ndtype: float32\n"
        "engine: {max_model_len: 1024, enforce_eager: true, kv_cache_space_gb: 1}\n",
        encoding="utf-8",
    )
    return path


def demo_data(folder: Path, copies: int) -> Path:
    """The 60 demo diagnoses ``copies`` times over, with fresh ids (more prompts, same kind)."""
    rows = [json.loads(line) for line in DEMO_DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    path = folder / f"diagnoses-x{copies}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for copy in range(copies):
            for row in rows:
                handle.write(json.dumps({**row, "id": f"{row['id']}-{copy}"}, ensure_ascii=False) + "\n")
    return path
