"""A catalogue QA family for training tests: the real task files of three catalogue tasks (one a clinical set
sharing its base set's training split) with hand-written data, whose training splits hold rows that are test
items or few-shot examples somewhere (which a recipe must leave out)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.config.io import REPO_ROOT

FAMILY = REPO_ROOT / "tasks" / "icd_catalogue_qa"
TASK_FILES = ("_family.yaml", "alphaid_icd10gm_neoplasms.yaml", "alphaid_icd10gm_neoplasms_clinical.yaml",
              "tumour_recognition.yaml")
TRAINING_IDS = {"a1", "a2", "a3", "a4", "n1", "n2", "n3", "j1"}
"""The training rows that are no test item or few-shot example anywhere."""
HELD_OUT_TEXTS = ["Prostatakarzinom", "Harnblasenkarzinom", "Beispieltumor", "Harnblasen-Ca", "Mammakarzinom",
                  "Klinisches Beispiel", "Erkennungsbeispiel"]

def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def write_family(folder: Path) -> Path:
    """Write the family into ``folder`` (created); returns it."""
    folder.mkdir(parents=True)
    for name in TASK_FILES:
        shutil.copy(FAMILY / name, folder / name)
    shutil.copytree(FAMILY / "prompts", folder / "prompts")
    gen = folder / "generated"
    _write(gen / "alphaid_icd10gm_neoplasms" / "test.jsonl", [
        {"id": "t1", "text": "Prostatakarzinom", "icd10gm_code": "C61"},
        {"id": "t2", "text": "Harnblasenkarzinom", "icd10gm_code": "C67.9"}])
    _write(gen / "alphaid_icd10gm_neoplasms" / "fewshot.jsonl", [
        {"id": f"f{i}", "text": f"Beispieltumor {i}", "answer": "C80.9"} for i in range(3)])
    _write(gen / "alphaid_icd10gm_neoplasms" / "train.jsonl", [
        {"id": "a1", "text": "Paget-Karzinom des Anus", "answer": "C21.0"},
        {"id": "a2", "text": "Zementom", "answer": "D16.42"},
        {"id": "a3", "text": "Cholangiohepatom", "answer": "C22.0"},
        {"id": "a4", "text": "Lungensarkom", "answer": "C34.9"},
        {"id": "leak-test", "text": "  prostatakarzinom ", "answer": "C61"},      # a test text (case, spaces)
        {"id": "leak-shot", "text": "Beispieltumor 1", "answer": "C80.9"},        # a few-shot text
        {"id": "leak-clinical", "text": "Z. n. Harnblasen-Ca.", "answer": "C67.9"},  # a clinical test text
    ])
    _write(gen / "alphaid_icd10gm_neoplasms_clinical" / "test.jsonl", [
        {"id": "c1", "text": "Z. n. Harnblasen-Ca.", "icd10gm_code": "C67.9"}])
    _write(gen / "alphaid_icd10gm_neoplasms_clinical" / "fewshot.jsonl", [
        {"id": f"cf{i}", "text": f"Klinisches Beispiel {i}", "answer": "C80.9"} for i in range(3)])
    _write(gen / "tumour_recognition" / "test.jsonl", [
        {"id": "r1", "text": "Mammakarzinom links", "is_tumour": True}])
    _write(gen / "tumour_recognition" / "fewshot.jsonl", [
        {"id": f"rf{i}", "text": f"Erkennungsbeispiel {i}", "answer": "Ja" if i % 2 else "Nein"} for i in range(4)])
    _write(gen / "tumour_recognition" / "train.jsonl", [
        {"id": "n1", "text": "Verruga peruana", "answer": "Nein"},
        {"id": "n2", "text": "Gesichtsabszess", "answer": "Nein"},
        {"id": "n3", "text": "Verletzung der Arteria ulnaris in Höhe der Hand", "answer": "Nein"},
        {"id": "j1", "text": "Nierenzellkarzinom", "answer": "Ja"},
        {"id": "leak-rec", "text": "Mammakarzinom links", "answer": "Ja"},
    ])
    return folder


def load_recipe():
    """recipes/lora_catalogue_qa.py as a module (the recipes are scripts, not a package)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("lora_catalogue_qa", REPO_ROOT / "recipes" / "lora_catalogue_qa.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


MEMORISING = ["--epochs", "30", "--learning-rate", "0.005", "--batch-size", "4", "--rank", "8", "--warmup-steps", "2",
              "--threads", "1"]
"""Settings under which the recipe makes the tiny random Llama learn the family's 8 training answers by heart
(7 of 8 exactly, measured; about 15 s on one busy core)."""


def train_tiny_adapter(root: Path, model: Path, name: str, extra: list[str]) -> tuple[Path, str]:
    """Run the recipe on the tiny model with this family, its cache in ``root / "cache"`` (the caller sets
    ``$ONKOBENCH_CACHE`` to it); returns the adapter folder and its content hash."""
    from harness.runners.adapters import folder_sha256

    family = root / "family"
    if not family.exists():
        write_family(family)
    config = root / "tiny-base.yaml"
    config.write_text(f"name: tiny-base\nrunner: transformers\nmodel_id: {model}\ndtype: float32\n", encoding="utf-8")
    recipe = load_recipe()
    code = recipe.main(["--model", str(config), "--family-dir", str(family), "--name", name, *extra])
    assert code == 0, code
    folder = root / "cache" / "adapters" / name
    return folder, folder_sha256(folder)
