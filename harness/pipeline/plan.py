"""Plan and run a set of (task, variant, model) runs; one runner per model, loaded once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.pipeline.chains import chained_data, resolve_chain
from harness.data import load_task_data
from harness.errors import OnkobenchError
from harness.config.io import confined_path
from harness.pipeline.run import RunOutcome, run_task_variant
from harness.config.models import ModelConfig, load_model_config
from harness.config.prompt_packs import apply_prompt_pack
from harness.runners import create_runner
from harness.runners.base import Runner
from harness.config.suites import load_suite
from harness.config.tasks import Task, load_task
from harness.data import TaskData


@dataclass(frozen=True)
class PlannedTask:
    task: Task
    variants: tuple[str, ...]
    data_path: Path | None
    models: tuple[tuple[ModelConfig, Path], ...]
    chains: tuple[str, ...] = ()
    limit: int | None = None


def _checked_chains(task: Task, chains: Sequence[str]) -> tuple[str, ...]:
    if task.upstream is None and chains:
        raise OnkobenchError(f"task {task.name} is not a chained step; --chain/--gold do not apply")
    if task.upstream is not None and not chains:
        raise OnkobenchError(f"task {task.name} builds on {task.upstream.task}: give --chain RUN_DIR|best|own-best or --gold")
    return tuple(chains)


def _check_answers(config: ModelConfig, task: Task) -> None:
    if config.runner == "baseline":
        from harness.runners.baseline import check_answer_kind

        check_answer_kind(config, task.answer_kind, task.name)


def plan_runs(
    suite_name: str | None,
    task_name: str | None,
    variants: Sequence[str],
    models: Sequence[str],
    data_path: Path | None,
    chains: Sequence[str] = (),
    prompts_dir: Path | None = None,
    allow_remote_code: bool = False,
) -> list[PlannedTask]:
    """Resolve and validate everything before the first request is sent."""
    if bool(suite_name) == bool(task_name):
        raise OnkobenchError("give exactly one of --suite or --task")
    if suite_name:
        suite, suite_path = load_suite(suite_name)
        if chains:
            raise OnkobenchError("--chain and --gold apply to a single --task; a suite sets them per task")
        # --data replaces every task's data: the steps of a suite share one dataset
        entries = [
            (e.task, e.variants, list(dict.fromkeys([*(models or (e.models if e.models is not None else suite.models)), *e.baselines])),
             data_path or (confined_path(suite_path.parent, e.data, f"{suite_path}: tasks.data") if e.data else None), e.chain, e.limit)
            for e in suite.tasks
        ]
    else:
        entries = [(task_name, tuple(variants) or None, list(models), data_path, tuple(chains), None)]
    configs: dict[str, tuple[ModelConfig, Path]] = {}
    planned = []
    for name, wanted, model_names, path, entry_chains, entry_limit in entries:
        if not model_names:
            raise OnkobenchError(f"no model for task {name} (--model NAME or models in the suite)")
        task = apply_prompt_pack(load_task(name), prompts_dir)  # type: ignore[arg-type]
        chosen = tuple(v for name in wanted for v in task.expand_variant(name)) if wanted else tuple(task.variants)
        for model in model_names:
            if model not in configs:
                configs[model] = load_model_config(model, allow_remote_code=allow_remote_code)
            _check_answers(configs[model][0], task)
        planned.append(
            PlannedTask(task, chosen, path, tuple(configs[m] for m in model_names), _checked_chains(task, entry_chains),
                        entry_limit)
        )
    return planned


def run_plan(
    plan: Sequence[PlannedTask], out_dir: Path, prompts_dir: Path | None = None, limit: int | None = None,
    progress: bool = True, runs_dir: Path | None = None,
) -> Iterator[RunOutcome]:
    """Task by task in plan order (a chained step needs the previous step's runs); runners are reused."""
    runners: dict[str, Runner] = {}
    all_configs = {c.name: c for p in plan for c, _ in p.models}
    try:
        for planned in plan:
            base = load_task_data(planned.task, planned.data_path)
            task_limit = min(x for x in (limit, planned.limit, len(base.samples)) if x is not None)
            if task_limit < len(base.samples):
                base = TaskData(base.samples[:task_limit], base.source, base.fingerprint)
            for config, config_path in planned.models:

                def get_runner(config: ModelConfig = config, config_path: Path = config_path) -> Runner:
                    # configs differing only in adapter or reasoning share one vLLM engine
                    key = config.engine_key() or config.name
                    if key not in runners:
                        peers = tuple(c for c in all_configs.values() if c.engine_key() == key and c.name != config.name)
                        runners[key] = create_runner(config, config_path.parent, peers if config.engine_key() else ())
                    return runners[key]

                # a prompt-free baseline gives the same answers for every variant: run it once
                variants = planned.variants if config.uses_prompt else planned.variants[:1]
                for chain in planned.chains or (None,):
                    # resolved once per chain and model: every variant builds on the same previous run
                    source = None if chain is None else resolve_chain(
                        planned.task, chain, runs_dir or out_dir, base.fingerprint, config.name)
                    for variant in variants:
                        data = base if source is None else chained_data(planned.task, planned.task.variant(variant), base, source)
                        yield run_task_variant(
                            planned.task, variant, config, data, out_dir, get_runner,
                            prompts_dir=prompts_dir, progress=progress,
                        )
    finally:
        for runner in runners.values():
            runner.close()
