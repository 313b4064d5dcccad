"""Plan and run a set of (task, variant, model) runs; one runner per model, loaded once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.datasources import load_task_data
from harness.errors import OnkobenchError
from harness.evaluation import RunOutcome, run_task_variant
from harness.models import ModelConfig, load_model_config
from harness.runners import create_runner
from harness.runners.base import Runner
from harness.suites import load_suite
from harness.tasks import Task, TaskData, load_task


@dataclass(frozen=True)
class PlannedTask:
    task: Task
    variants: tuple[str, ...]
    data_path: Path | None


@dataclass(frozen=True)
class Plan:
    tasks: tuple[PlannedTask, ...]
    models: tuple[tuple[ModelConfig, Path], ...]


def plan_runs(
    suite_name: str | None, task_name: str | None, variants: Sequence[str], models: Sequence[str], data_path: Path | None
) -> Plan:
    """Resolve and validate everything before the first request is sent."""
    if bool(suite_name) == bool(task_name):
        raise OnkobenchError("give exactly one of --suite or --task")
    if suite_name:
        suite = load_suite(suite_name)
        if data_path is not None:
            raise OnkobenchError("--data applies to a single --task, not to a suite")
        entries = [(entry.task, entry.variants) for entry in suite.tasks]
        model_names = list(models) or list(suite.models)
    else:
        entries = [(task_name, tuple(variants) or None)]
        model_names = list(models)
    if not model_names:
        raise OnkobenchError("no model given (--model NAME or a suite with models)")
    planned = []
    for name, wanted in entries:
        task = load_task(name)  # type: ignore[arg-type]
        chosen = tuple(wanted) if wanted else tuple(task.variants)
        for variant in chosen:
            task.variant(variant)
        planned.append(PlannedTask(task, chosen, data_path))
    configs = tuple(load_model_config(name) for name in model_names)
    return Plan(tuple(planned), configs)


def run_plan(
    plan: Plan, out_dir: Path, prompts_dir: Path | None = None, limit: int | None = None, progress: bool = True
) -> Iterator[RunOutcome]:
    data_cache: dict[str, TaskData] = {}
    for config, config_path in plan.models:
        runner: Runner | None = None

        def get_runner() -> Runner:
            nonlocal runner
            if runner is None:
                runner = create_runner(config, config_path.parent)
            return runner

        try:
            for planned in plan.tasks:
                if planned.task.name not in data_cache:
                    data = load_task_data(planned.task, planned.data_path)
                    if limit is not None:
                        data = TaskData(data.samples[:limit], data.source, data.fingerprint)
                    data_cache[planned.task.name] = data
                # a prompt-free baseline gives the same answers for every variant: run it once
                variants = planned.variants if config.uses_prompt else planned.variants[:1]
                for variant in variants:
                    yield run_task_variant(
                        planned.task, variant, config, data_cache[planned.task.name], out_dir, get_runner,
                        prompts_dir=prompts_dir, progress=progress,
                    )
        finally:
            if runner is not None:
                runner.close()
