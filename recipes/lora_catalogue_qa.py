"""Train a LoRA adapter on the catalogue QA training splits: the fine-tuning method of Lenz et al. (instruction
tuning on catalogue question/answer pairs) at toy scale, so that the harness can be shown measuring a fine-tune.

    python recipes/lora_catalogue_qa.py                      # defaults: SmolLM2-135M-Instruct, ~25 minutes
    python recipes/lora_catalogue_qa.py --max-examples 16 --max-minutes 1 --name quick-check

What it does (recipes/README.md says why, and what the result is not):

1. reads the training split (``dataset.train``) of every task in the family folder; tasks that share a split
   (a clinical-variation set learns from its base set's) count once. A row whose text is a test item or a
   few-shot example of any task of the family is dropped and counted (the builder already keeps them apart;
   this makes sure of it);
2. draws up to ``--per-set`` rows of each split, seeded and stratified by the first character of the answer
   (the ICD-10 chapter letter, the ICD-O-3 morphology's first digit, Ja/Nein), the strata taking turns so
   that a small budget still covers every chapter and both answers;
3. renders each row with the task's own prompt templates of variant ``--variant`` (onkobench's
   ``PromptRenderer``: the training prompt is the evaluation prompt) and the model's chat template, exactly as
   the transformers runner renders it, followed by the answer and the template's end of turn; the loss counts
   the answer tokens only;
4. trains a LoRA adapter (peft) on the model of ``--model`` loaded as the transformers runner loads it (the
   SmolLM2 config: the GGUF file of its wheel, dequantised to float32), seeded, until the examples are used up
   or the wall-clock budget would be overrun by one more step;
5. saves the adapter in PEFT format into ``<onkobench cache>/adapters/<name>/`` (adapter_config.json,
   adapter_model.safetensors; nothing else, so the folder's content hash depends on the weights and the LoRA
   settings only), a training record beside it (``<name>.training.json``), and prints the content hash to put
   into the model config's ``adapter.sha256``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import sys
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# the recipe renders this checkout's task templates, so it uses this checkout's harness (not another install)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.config.io import REPO_ROOT, cache_dir  # noqa: E402
from harness.config.models import ModelConfig, load_model_config  # noqa: E402
from harness.config.tasks import Task, load_task_file  # noqa: E402
from harness.data import Sample, read_jsonl, read_local_rows  # noqa: E402
from harness.errors import OnkobenchError  # noqa: E402
from harness.prompts import PromptRenderer  # noqa: E402

FAMILY_DIR = REPO_ROOT / "tasks" / "icd_catalogue_qa"
DEFAULT_MODEL = "smollm2-135m-instruct-cpu"
DEFAULT_NAME = "smollm2-135m-instruct-catalogue-lora"
_clock = time.monotonic
"""The recipe's clock (the budget test replaces it with one that moves on by itself)."""
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Every linear layer of a Llama block: with a rank-16 adapter that is 4.9 M trainable weights on SmolLM2-135M
(3.5 %); vLLM serves LoRA on all of them."""


@dataclass(frozen=True)
class Settings:
    """Everything that decides the adapter (recorded with it)."""

    per_set: int = 400
    """Rows drawn per training split (4 non-empty splits: 1,600 examples; the default budget saw 1,112 of them on
    one thread of a busy 2-core machine, recipes/README.md)."""
    max_examples: int | None = None
    """Cut the shuffled examples to this many (a quick check)."""
    max_minutes: float = 25.0
    """Wall-clock budget from the start of the recipe (loading included); training stops before a step that
    would overrun it."""
    max_steps: int | None = None
    """Stop after this many steps; the learning-rate schedule still runs to the planned last step, so this retrains
    exactly the adapter a budget cut at that step gave (its record's ``steps``), wherever the clock would cut."""
    seed: int = 0
    variant: str = "0"
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.0
    """No LoRA dropout: peft keeps a dropped-out copy of every adapted layer's input, and one epoch does not overfit."""
    learning_rate: float = 3e-4
    warmup_steps: int = 10
    batch_size: int = 8
    epochs: int = 1
    threads: int = 0
    """torch threads; 0: one per core."""
    checkpointing: bool = True
    """Gradient checkpointing: recompute each block's activations in the backward pass. About 40 % more time per
    step, but SmolLM2 at batch 8 peaks at 2.4 GB instead of 5-6 GB (measured; the 6 GB run was OOM-killed on a
    shared machine)."""


@dataclass(frozen=True)
class Example:
    """One training example: the evaluation prompt of a training row and the answer to learn."""

    set_name: str
    row_id: str
    messages: tuple[dict[str, str], ...]
    answer: str


@dataclass(frozen=True)
class TrainingSet:
    """One training split with the task whose templates render it."""

    task: Task
    path: Path
    sha256: str


def _normalised(text: str) -> str:
    return " ".join(str(text).casefold().split())


def family_tasks(family_dir: Path) -> list[Task]:
    """Every task of a family folder (``_*.yaml`` are shared settings, no tasks), by file name."""
    paths = sorted(p for p in family_dir.glob("*.yaml") if not p.name.startswith("_"))
    if not paths:
        raise OnkobenchError(f"{family_dir}: no task files")
    return [load_task_file(path) for path in paths]


def training_sets(tasks: list[Task]) -> list[TrainingSet]:
    """The distinct training splits of ``tasks``; a split several tasks share goes with the first by name."""
    from harness.data import training_split

    found: dict[Path, TrainingSet] = {}
    for task in sorted(tasks, key=lambda t: t.name):
        split = training_split(task)  # an error naming the build command when the split is missing
        if split is not None and split.path not in found:
            found[split.path] = TrainingSet(task, split.path, split.sha256)
    if not found:
        raise OnkobenchError("no task of the family names a training split (dataset.train)")
    return list(found.values())


def held_out_texts(tasks: list[Task]) -> set[str]:
    """Normalised texts of every test item and few-shot example of ``tasks``: never trained on."""
    from harness.config.io import confined_path

    texts: set[str] = set()
    for task in tasks:
        files = {confined_path(task.folder, task.dataset.path, f"{task.name}: dataset.path")} if task.dataset.path else set()
        files |= {confined_path(task.folder, v.shots.pool, f"{task.name} variant {v.name}: shots.pool")
                  for v in task.variants.values() if v.shots}
        for path in files:
            if not path.is_file():
                raise OnkobenchError(f"{path}: not found; the held-out texts of {task.name} are needed to keep them "
                                     f"out of training ({task.dataset.how_to_get or 'build the data set'})")
            texts |= {_normalised(row["text"]) for row in read_local_rows(path) if "text" in row}
    return texts


def read_training_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a training split; a row without a non-empty ``id``, ``text`` or ``answer`` is an error naming it."""
    rows = read_jsonl(path)
    for number, row in enumerate(rows, start=1):
        for field in ("id", "text", "answer"):
            if not isinstance(row.get(field), str) or not row[field].strip():
                raise OnkobenchError(f"{path}: row {number}: field {field!r} must be a non-empty string")
    return rows


def stratum(answer: str) -> str:
    """The stratum of a training row: the answer's first character (ICD-10 chapter letter, ICD-O-3 morphology
    first digit, J/N of the yes/no task)."""
    return answer.strip()[:1].upper()


def select_rows(rows: list[dict[str, str]], n: int, seed: int) -> list[dict[str, str]]:
    """Up to ``n`` rows, seeded: each stratum shuffled, then the strata (in sorted order) give one row each in
    turn until ``n`` are drawn or all are used up; a stratum that runs out leaves its turns to the others."""
    rng = random.Random(seed)
    strata: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        strata[stratum(row["answer"])].append(row)
    queues = []
    for key in sorted(strata):
        members = sorted(strata[key], key=lambda r: r["id"])  # the file's order does not matter
        rng.shuffle(members)
        queues.append(deque(members))
    picked: list[dict[str, str]] = []
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.popleft())
    return picked


def render_prompt(renderer: PromptRenderer, row: dict[str, str]) -> list[dict[str, str]]:
    """The evaluation prompt's chat turns for a training row (its ``text`` in place of a test item's)."""
    fields = {key: value for key, value in row.items() if key != "answer"}  # the answer is never an input
    return renderer.messages(Sample(id=row["id"], fields=fields, target=row["answer"]))


def build_examples(tasks: list[Task], settings: Settings) -> tuple[list[Example], dict[str, Any]]:
    """The shuffled training examples of every split, and per split what was read, dropped and drawn."""
    held_out = held_out_texts(tasks)
    examples: list[Example] = []
    per_set: dict[str, Any] = {}
    for index, training in enumerate(training_sets(tasks)):
        rows = read_training_rows(training.path)
        kept = [row for row in rows if _normalised(row["text"]) not in held_out]
        renderer = PromptRenderer(training.task, training.task.variant(settings.variant))
        renderer.check()
        picked = select_rows(kept, settings.per_set, settings.seed + index)
        set_name = training.task.name.split(".", 1)[-1]
        examples += [Example(set_name, row["id"], tuple(render_prompt(renderer, row)), row["answer"]) for row in picked]
        per_set[set_name] = {
            "task": training.task.name, "train_file": str(training.path.relative_to(REPO_ROOT))
            if training.path.is_relative_to(REPO_ROOT) else str(training.path),
            "train_sha256": training.sha256, "rows": len(rows), "dropped_held_out": len(rows) - len(kept),
            "drawn": len(picked), "strata": dict(sorted(Counter(stratum(r["answer"]) for r in picked).items())),
        }
    random.Random(settings.seed).shuffle(examples)
    if settings.max_examples is not None:
        examples = examples[: settings.max_examples]
    for name in per_set:
        per_set[name]["used"] = sum(e.set_name == name for e in examples)
    if not examples:
        raise OnkobenchError("no training examples (empty training splits, or --max-examples 0)")
    return examples, per_set


def tokenize_example(tokenizer: Any, example: Example, template_kwargs: dict[str, Any]) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)``: the prompt tokenised as the transformers runner does it (the chat template with the
    generation prompt, no special tokens added), then the answer with the template's end of turn; labels -100 on
    the prompt, so only the answer is learnt."""
    messages = list(example.messages)
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **template_kwargs)
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": example.answer}], tokenize=False,
                                         **template_kwargs)
    if not full.startswith(prompt) or example.answer not in full[len(prompt):]:
        raise OnkobenchError(f"{example.set_name} row {example.row_id}: the chat template does not write the answer "
                             "after the generation prompt; cannot split prompt and answer")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids


def make_batches(encoded: list[tuple[list[int], list[int]]], size: int, pad_id: int) -> list[dict[str, Any]]:
    """Batches padded on the left, as the transformers runner pads prompts for generation: every row's answer ends
    at the last position, so the loss needs the logits of the last ``keep`` positions only (projecting every prompt
    token onto the 49k-word vocabulary costs SmolLM2 about 0.6 GB at batch 8, for nothing)."""
    import torch

    batches = []
    for start in range(0, len(encoded), size):
        part = encoded[start : start + size]
        width = max(len(ids) for ids, _ in part)
        pads = [width - len(ids) for ids, _ in part]
        mask = torch.tensor([[0] * pad + [1] * len(ids) for pad, (ids, _) in zip(pads, part)])
        batches.append({
            "input_ids": torch.tensor([[pad_id] * pad + ids for pad, (ids, _) in zip(pads, part)]),
            "attention_mask": mask,
            # positions count from each row's first real token, as generate() counts them
            "position_ids": (mask.cumsum(-1) - 1).clamp(min=0),
            "labels": torch.tensor([[-100] * pad + labels for pad, (_, labels) in zip(pads, part)]),
            "keep": 1 + max(sum(label != -100 for label in labels) for _, labels in part),
        })
    return batches


def answer_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy of the answer tokens (what ``labels`` would give), from the logits of the last
    ``keep`` positions: position t predicts token t + 1, so the last kept position predicts nothing."""
    import torch

    keep = batch["keep"]
    output = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   position_ids=batch["position_ids"], logits_to_keep=keep)
    logits = output.logits[:, :-1].float()
    targets = batch["labels"][:, -(keep - 1):]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _loss_summary(losses: list[float], every: int = 10) -> dict[str, Any]:
    """Mean loss of each block of ``every`` steps, and of the first and last block."""
    blocks = [losses[i : i + every] for i in range(0, len(losses), every)]
    curve = [{"steps": f"{i * every + 1}-{i * every + len(b)}", "mean_loss": round(sum(b) / len(b), 4)} for i, b in enumerate(blocks)]
    return {"every_steps": every, "curve": curve, "first_block_mean": curve[0]["mean_loss"] if curve else None,
            "last_block_mean": curve[-1]["mean_loss"] if curve else None}


def _save_adapter(model: Any, config: ModelConfig, target: Path) -> None:
    """The adapter in PEFT format, written beside ``target`` and renamed into place (a reader never sees half)."""
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial))
    (partial / "README.md").unlink(missing_ok=True)  # peft's model card: boilerplate, and it names local paths
    adapter_config = partial / "adapter_config.json"
    data = json.loads(adapter_config.read_text(encoding="utf-8"))
    # peft keeps target_modules as a set (its order varies between processes) and the local path of the base
    # weights: both would change the content hash of the same adapter
    data["target_modules"] = sorted(data["target_modules"])
    data["base_model_name_or_path"] = config.model_id
    adapter_config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if target.exists():
        shutil.rmtree(target)
    os.replace(partial, target)


def train(config: ModelConfig, config_dir: Path, examples: list[Example], settings: Settings, started: float,
          target: Path) -> dict[str, Any]:
    """Train the adapter and save it into ``target``; returns what the record says about the training."""
    try:
        import peft
        import torch
        import transformers
    except ImportError as err:
        raise OnkobenchError("this recipe needs torch, transformers and peft: pip install 'onkobench[train]'") from err
    from harness.runners.transformers import chat_template_override, weights_location

    torch.manual_seed(settings.seed)
    random.seed(settings.seed)
    torch.set_num_threads(settings.threads or os.cpu_count() or 1)
    location, load_kwargs = weights_location(config, config_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(config.tokenizer or location, **load_kwargs)
    if (template := chat_template_override(config, config_dir)) is not None:
        tokenizer.chat_template = template
    template_kwargs = config.chat_template_kwargs_for_requests()
    encoded = [tokenize_example(tokenizer, example, template_kwargs) for example in examples]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batches = make_batches(encoded, settings.batch_size, pad_id) * settings.epochs
    model = transformers.AutoModelForCausalLM.from_pretrained(location, dtype=torch.float32, **load_kwargs)
    if settings.checkpointing:
        model.config.use_cache = False  # nothing to cache in training; transformers warns otherwise
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = peft.get_peft_model(model, peft.LoraConfig(
        r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
        target_modules=list(TARGET_MODULES), bias="none", task_type="CAUSAL_LM",
    ))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate)
    # linear warm-up, then linear decay to 0 at the last planned step
    planned = len(batches)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(
        (step + 1) / max(settings.warmup_steps, 1), max(0.0, (planned - step) / max(planned - settings.warmup_steps, 1))))
    budget_s = settings.max_minutes * 60
    losses: list[float] = []
    seen = 0
    step_s = 0.0
    stopped_by_budget = False
    model.train()
    train_start = _clock()
    stopped_at_max_steps = False
    for batch in batches:
        if settings.max_steps is not None and len(losses) >= settings.max_steps:
            stopped_at_max_steps = True
            break
        if _clock() - started + step_s > budget_s:
            stopped_by_budget = True
            break
        step_start = _clock()
        loss = answer_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        seen += int(batch["input_ids"].shape[0])
        step_s = _clock() - step_start
        if len(losses) % 10 == 0 or len(losses) == planned:
            print(f"step {len(losses)}/{planned}  loss {sum(losses[-10:]) / len(losses[-10:]):.4f}  "
                  f"{(_clock() - started) / 60:.1f} min", file=sys.stderr, flush=True)
    train_s = _clock() - train_start
    if not losses:
        raise OnkobenchError(f"the budget of {settings.max_minutes} minutes ran out before the first training step")
    model.eval()
    _save_adapter(model, config, target)
    weights = Path(location) / load_kwargs["gguf_file"] if "gguf_file" in load_kwargs else None
    return {
        "steps": len(losses), "planned_steps": planned, "examples_seen": seen, "stopped_by_budget": stopped_by_budget,
        "stopped_at_max_steps": stopped_at_max_steps,
        "train_minutes": round(train_s / 60, 2), "trainable_parameters": trainable, "loss": _loss_summary(losses),
        "final_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4),
        "weights_sha256": _file_sha256(weights) if weights else None,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "threads": torch.get_num_threads(),
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def run(model: str, name: str, family_dir: Path, settings: Settings) -> tuple[Path, str, dict[str, Any]]:
    """Build the examples, train, save; returns the adapter folder, its content hash and the training record."""
    from harness.runners.adapters import folder_sha256

    started = _clock()
    config, config_path = load_model_config(model)
    if config.adapter is not None:
        raise OnkobenchError(f"{config_path}: the base model's config must not name an adapter itself")
    if config.prompt_format != "chat":
        raise OnkobenchError(f"{config_path}: prompt_format {config.prompt_format!r}: the recipe trains chat models "
                             "(the answer follows the chat template's generation prompt)")
    examples, per_set = build_examples(family_tasks(family_dir), settings)
    target = cache_dir() / "adapters" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    training = train(config, config_path.parent, examples, settings, started, target)
    # batches take the examples in order: a run cut by the budget saw the first ones (at least once)
    seen = examples[: min(training["examples_seen"], len(examples))]
    for set_name, counts in per_set.items():
        counts["seen"] = sum(e.set_name == set_name for e in seen)
    sha256 = folder_sha256(target)
    record = {
        "adapter": name, "adapter_sha256": sha256, "base_model": {"config": config.name, "model_id": config.model_id,
        "wheel_file": config.wheel_file.model_dump() if config.wheel_file else None},
        "settings": {**settings.__dict__, "target_modules": list(TARGET_MODULES)}, "sets": per_set, **training,
        "minutes": round((_clock() - started) / 60, 2),
    }
    record_path = target.with_name(f"{name}.training.json")
    partial = record_path.with_name(record_path.name + ".partial")
    partial.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, record_path)
    return target, sha256, record


def _arguments(argv: list[str] | None) -> tuple[argparse.Namespace, Settings]:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="base model config: a name in leaderboards/models/ or a .yaml path")
    parser.add_argument("--name", default=DEFAULT_NAME, help="adapter folder name in <cache>/adapters/")
    parser.add_argument("--family-dir", type=Path, default=FAMILY_DIR, help="task family folder with training splits")
    parser.add_argument("--checkpointing", action=argparse.BooleanOptionalAction, default=defaults.checkpointing,
                        help="gradient checkpointing: less memory, more time")
    for field in ("per_set", "max_examples", "max_minutes", "max_steps", "seed", "variant", "rank", "alpha", "dropout",
                  "learning_rate", "warmup_steps", "batch_size", "epochs", "threads"):
        default = getattr(defaults, field)
        kind = str if field == "variant" else float if isinstance(default, float) else int  # None defaults: int
        parser.add_argument(f"--{field.replace('_', '-')}", type=kind, default=default, help=f"(default: {default})")
    args = parser.parse_args(argv)
    settings = Settings(**{f: getattr(args, f) for f in Settings.__dataclass_fields__})
    if settings.per_set < 1 or settings.batch_size < 1 or settings.epochs < 1 or settings.max_minutes <= 0 or (
            settings.max_steps is not None and settings.max_steps < 1):
        parser.error("--per-set, --batch-size, --epochs and --max-steps must be >= 1, --max-minutes > 0")
    return args, settings


def main(argv: list[str] | None = None) -> int:
    args, settings = _arguments(argv)
    try:
        target, sha256, record = run(args.model, args.name, args.family_dir, settings)
    except OnkobenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"adapter: {target}\nsteps {record['steps']}/{record['planned_steps']}, examples seen {record['examples_seen']}, "
          f"final loss {record['final_loss']}, {record['minutes']} min"
          f"{' (stopped by the budget)' if record['stopped_by_budget'] else ''}"
          f"{' (stopped at --max-steps)' if record['stopped_at_max_steps'] else ''}\nsha256: {sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
