"""``onkobench export lm-eval``: one task variant as an lm-eval task folder (YAML, utils.py, bridge JSON).

lm-eval builds the chat as [system = description] + (user, assistant) per example + user; the export
checks on every sample that onkobench's rendered turns have exactly that shape, with the same
system text and examples for all, so ``--apply_chat_template`` gives the same prompts as a run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import OnkobenchError
from harness.lmeval.bridge import LmEvalBridge
from harness.scoring.metrics import lower_is_better
from harness.templating import literal_template
from harness.config.tasks import Task
from harness.data import TaskData

DATA_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}

# Only the sanitised lm-eval task name goes into this Python file: a task or variant name is free text
# and would otherwise be able to close the docstring and run code when lm-eval imports the module.
UTILS_TEMPLATE = '''"""Written by `onkobench export lm-eval`: lm-eval's hooks for {name}, all from onkobench."""

from pathlib import Path

from harness.lmeval.bridge import LmEvalBridge

_BRIDGE = LmEvalBridge.from_file(Path(__file__).with_name("{name}.json"))


def process_docs(dataset):
    return _BRIDGE.process_docs(dataset)


def doc_to_text(doc):
    return _BRIDGE.doc_to_text(doc)


def doc_to_target(doc):
    return _BRIDGE.doc_to_target(doc)


def fewshot_samples():
    return _BRIDGE.fewshot_samples()


def process_results(doc, results):
    return _BRIDGE.process_results(doc, results)

{aggregators}
'''


class _Function(str):
    """A ``!function module.name`` reference in lm-eval's YAML."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Function, lambda dumper, ref: dumper.represent_scalar("!function", str(ref)))


@dataclass(frozen=True)
class Export:
    name: str
    folder: Path
    yaml_path: Path
    n_samples: int


def lmeval_task_name(task: Task, variant: str) -> str:
    return "onkobench_" + re.sub(r"[^A-Za-z0-9]+", "_", f"{task.name}_{variant}").strip("_").lower()


def _aggregator_name(metric: str) -> str:
    return "aggregate_" + re.sub(r"[^A-Za-z0-9]+", "_", metric)


def _dataset_fields(task: Task, data: TaskData) -> dict[str, Any]:
    if task.dataset.hub is not None:
        hub = task.dataset.hub
        # a hub (gated) set is referenced by id and revision, never copied; a local copy only served the checks
        return {"dataset_path": hub.repo, "dataset_name": hub.name, "dataset_kwargs": {"revision": hub.revision or "main"},
                "test_split": hub.split}
    source = Path(data.source).resolve()
    builder = DATA_BUILDERS.get(source.suffix.lower())
    if builder is None:
        raise OnkobenchError(f"{source}: lm-eval reads {', '.join(DATA_BUILDERS)} data files, not {source.suffix!r}")
    return {"dataset_path": builder, "dataset_kwargs": {"data_files": {"test": str(source)}}, "test_split": "test"}


def _fixed_conversation(bridge: LmEvalBridge, data: TaskData) -> tuple[str, list[tuple[str, str]]]:
    system, shots = None, None
    for sample in data.samples:
        this_system, this_shots, _ = bridge.conversation(sample)
        if system is None:
            system, shots = this_system, this_shots
        elif (this_system, this_shots) != (system, shots):
            raise OnkobenchError(
                f"{bridge.task.name} variant {bridge.variant.name}: sample {sample.id} has another system text or other "
                "examples than the first sample; lm-eval gives every doc the same ones"
            )
    return system or "", shots or []


def export_lmeval(task: Task, variant: str, data: TaskData, out_dir: Path, task_ref: str | None = None) -> Export:
    """Write ``<name>.yaml``, ``<name>_utils.py`` and ``<name>.json`` into ``out_dir``.

    ``data`` is checked sample by sample; a local data set is what the YAML reads, a hub data set is
    referenced by id (``data`` may then be a local copy of it). ``task_ref`` is how lm-eval's process
    finds the task again: its name (default) or the path of a task file outside the tasks folder.
    """
    bridge = LmEvalBridge(task, variant)
    system, shots = _fixed_conversation(bridge, data)
    name = lmeval_task_name(task, variant)
    generation = task.generation_for(bridge.variant)
    module = f"{name}_utils"
    config: dict[str, Any] = {
        "task": name,
        **{k: v for k, v in _dataset_fields(task, data).items() if v is not None},
        "output_type": "generate_until",
        "process_docs": _Function(f"{module}.process_docs"),
        "doc_to_text": _Function(f"{module}.doc_to_text"),
        "doc_to_target": _Function(f"{module}.doc_to_target"),
        "target_delimiter": "",
        "fewshot_delimiter": "",
    }
    if system:
        # lm-eval renders the description as a Jinja template, outside any sandbox: the text must stay text
        # even when it holds a tag of its own (an endraw would let the rest run as code in lm-eval)
        config["description"] = literal_template(system)
    if shots:
        config["num_fewshot"] = len(shots)
        config["fewshot_config"] = {"sampler": "first_n", "samples": _Function(f"{module}.fewshot_samples")}
    config["generation_kwargs"] = {
        "until": list(generation.stop),
        "max_gen_toks": generation.max_tokens,
        "do_sample": generation.temperature > 0,
        "temperature": generation.temperature,
        **({"top_p": generation.top_p} if generation.temperature > 0 else {}),
    }
    config["process_results"] = _Function(f"{module}.process_results")
    config["metric_list"] = [
        {"metric": metric, "aggregation": _Function(f"{module}.{_aggregator_name(metric)}"),
         "higher_is_better": not lower_is_better(metric)}
        for metric in task.metrics
    ]
    config["metadata"] = {"version": task.version, "onkobench_task": task.name, "onkobench_variant": bridge.variant.name}
    out_dir.mkdir(parents=True, exist_ok=True)
    yaml_path = out_dir / f"{name}.yaml"
    yaml_path.write_text(yaml.dump(config, Dumper=_Dumper, allow_unicode=True, sort_keys=False), encoding="utf-8")
    aggregators = "\n".join(
        f"def {_aggregator_name(metric)}(items):\n    return _BRIDGE.aggregate({metric!r}, items)\n\n" for metric in task.metrics
    )
    (out_dir / f"{module}.py").write_text(
        UTILS_TEMPLATE.format(name=name, aggregators=aggregators), encoding="utf-8"
    )
    bridge_spec = {"task": task_ref or task.name, "variant": bridge.variant.name, "shots": shots}
    (out_dir / f"{name}.json").write_text(json.dumps(bridge_spec, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return Export(name, out_dir, yaml_path, len(data.samples))
