"""Generated catalogue samples for scale tests: a dataset of N coding items and a model-outputs file.

The items are drawn from a loaded catalogue (never written anywhere but a temporary folder: the
catalogue terms forbid passing tables on); the outputs mix every outcome class the scorer knows.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

ICD10_TASK = "icd_catalogue_qa.alphaid_icd10gm_all"


def _answer(rng: random.Random, gold: str, codes: list[str]) -> str:
    roll = rng.random()
    if roll < 0.45:
        return gold
    if roll < 0.55:
        return f"Der passende Code ist {gold} ({gold[:3]})." if rng.random() < 0.5 else f"{gold.lower()}"
    if roll < 0.70:
        return rng.choice(codes)
    if roll < 0.78:
        return f"{gold[:3]}.99"  # well-formed, mostly not in the catalogue
    if roll < 0.83:
        return ""
    if roll < 0.90:
        return "Dazu kann ich keinen Code angeben."
    if roll < 0.95:
        return f"{gold} oder {rng.choice(codes)}"
    return "C79.5"


_THOUGHT = "Die Diagnose beschreibt einen Tumor; ich pruefe Lokalisation, Seite und Verhalten, bevor ich antworte. "


def write_catalogue_samples(
    folder: Path, n: int, codes: list[str], seed: int = 0, preamble_chars: int = 0
) -> tuple[Path, Path]:
    """Write ``dataset.jsonl`` (id, text, icd10gm_code) and ``outputs.jsonl`` (id, output) with ``n`` rows.

    ``preamble_chars`` puts that much code-free reasoning-like text before each answer (long outputs).
    """
    rng = random.Random(seed)
    preamble = (_THOUGHT * (preamble_chars // len(_THOUGHT) + 1))[:preamble_chars]
    folder.mkdir(parents=True, exist_ok=True)
    dataset, outputs = folder / "dataset.jsonl", folder / "outputs.jsonl"
    with dataset.open("w", encoding="utf-8") as data_file, outputs.open("w", encoding="utf-8") as output_file:
        for index in range(n):
            gold = rng.choice(codes)
            sample_id = f"s{index:07d}"
            data_file.write(json.dumps({"id": sample_id, "text": f"Diagnose Nummer {index} zu {gold}", "icd10gm_code": gold},
                                       ensure_ascii=False) + "\n")
            answer = _answer(rng, gold, codes)
            output = f"{preamble}\nAntwort: {answer}" if preamble and answer else answer
            output_file.write(json.dumps({"id": sample_id, "output": output}, ensure_ascii=False) + "\n")
    return dataset, outputs
