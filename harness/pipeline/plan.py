"""Plan and run a set of (task, variant, model) runs; one runner per model, loaded once."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from harness.config.io import confined_path
from harness.config.models import ModelConfig, load_model_config
from harness.config.prompt_packs import PromptPack, apply_prompt_pack, load_prompt_pack, variants_not_in_pack
from harness.config.suites import load_suite
from harness.config.tasks import Task, Variant, load_task
from harness.data import TaskData, load_task_data
from harness.errors import OnkobenchError
from harness.records import stable_hash
from harness.pipeline.chains import ChainSource, chained_data, resolve_chain
from harness.pipeline.run import RunOutcome, run_task_variant
from harness.pipeline.shards import Shard, split_data
from harness.pipeline.spec import RunSpec
from harness.runners import create_runner
from harness.runners.base import Runner


@dataclass(frozen=True)
class PlanEntry:
    """One task as asked for (a suite's entry, or ``--task``), before anything is loaded."""

    task: str
    variants: tuple[str, ...] | None
    """Variant names (a random few-shot name stands for all its draws); None or empty: every variant."""
    models: tuple[str, ...]
    data_path: Path | None
    chains: tuple[str, ...] = ()
    limit: int | None = None
    synthetic_data: bool = False
    """The entry's data file is synthetic, whatever the task's own data set is."""


@dataclass(frozen=True)
class PlannedTask:
    """One task with everything resolved: its variants, the model configs (with their folders), its chains."""

    task: Task
    variants: tuple[Variant, ...]
    data_path: Path | None
    models: tuple[tuple[ModelConfig, Path], ...]
    """Each model config with the folder of its file (relative paths in its options start there)."""
    chains: tuple[str, ...] = ()
    limit: int | None = None
    prompt_pack: PromptPack | None = None
    """The prompt pack the task was loaded with; its templates are rendered from there too."""
    not_in_pack: dict[str, str] = field(default_factory=dict)
    """Planned variants the pack gives no wording for (they keep the task's own), each with the reason."""


def on_synthetic_data(task: Task) -> Task:
    """The task as run on a synthetic stand-in for its data set (a suite entry's ``synthetic: true``): its results
    are synthetic (a private flag stays: it only ever adds checks)."""
    return task.model_copy(update={"dataset": task.dataset.model_copy(update={"synthetic": True})})


def _checked_chains(task: Task, chains: Sequence[str]) -> tuple[str, ...]:
    if task.upstream is None and chains:
        raise OnkobenchError(f"task {task.name} is not a chained step; --chain/--gold do not apply")
    if task.upstream is not None and not chains:
        raise OnkobenchError(f"task {task.name} builds on {task.upstream.task}: give --chain RUN_DIR|best|own-best or --gold")
    return tuple(chains)


def _suite_entries(suite_name: str, models: Sequence[str], data_path: Path | None, chains: Sequence[str]) -> list[PlanEntry]:
    suite, suite_path = load_suite(suite_name)
    if chains:
        raise OnkobenchError("--chain and --gold apply to a single --task; a suite sets them per task")
    entries = []
    for e in suite.tasks:
        chosen = models or (e.models if e.models is not None else suite.models)
        # --data replaces every task's data: the steps of a suite share one dataset
        path = data_path or (confined_path(suite_path.parent, e.data, f"{suite_path}: tasks.data") if e.data else None)
        entries.append(PlanEntry(e.task, e.variants, tuple(dict.fromkeys([*chosen, *e.baselines])), path, e.chain,
                                 e.limit, synthetic_data=e.synthetic and not data_path))
    return entries


def _plan_task(
    entry: PlanEntry, configs: dict[str, tuple[ModelConfig, Path]], pack: PromptPack | None, allow_remote_code: bool,
) -> PlannedTask:
    """Load the task and its model configs (``configs``: loaded once per plan); refuse a model that cannot answer it."""
    if not entry.models:
        raise OnkobenchError(f"no model for task {entry.task} (--model NAME or models in the suite)")
    task = load_task(entry.task)
    if entry.synthetic_data:
        task = on_synthetic_data(task)
    gaps = variants_not_in_pack(task, pack.folder) if pack else {}
    task = apply_prompt_pack(task, pack.folder if pack else None)
    names = [v for name in entry.variants for v in task.expand_variant(name)] if entry.variants else list(task.variants)
    for model in entry.models:
        if model not in configs:
            config, path = load_model_config(model, allow_remote_code=allow_remote_code)
            configs[model] = (config, path.parent)
        config = configs[model][0]
        config.runner_class.check_task(config, task.answer_kind, task.name)
    return PlannedTask(task, tuple(task.variants[name] for name in names), entry.data_path,
                       tuple(configs[m] for m in entry.models), _checked_chains(task, entry.chains), entry.limit,
                       pack, {name: gaps[name] for name in names if name in gaps})


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
        entries = _suite_entries(suite_name, models, data_path, chains)
    else:
        assert task_name is not None
        entries = [PlanEntry(task_name, tuple(variants) or None, tuple(models), data_path, tuple(chains))]
    configs: dict[str, tuple[ModelConfig, Path]] = {}
    pack = load_prompt_pack(prompts_dir) if prompts_dir is not None else None
    return [_plan_task(entry, configs, pack, allow_remote_code) for entry in entries]


def first_samples(data: TaskData, *limits: int | None) -> TaskData:
    """The first samples of ``data`` (``--limit``, a suite entry's ``limit``). The cut data is other data: it gets
    its own fingerprint, so a quick check is never compared with, nor chosen as the upstream of, a run on the whole
    data set (the steps of a chain cut with the same limit still match each other)."""
    n = min(x for x in (*limits, len(data.samples)) if x is not None)
    if n >= len(data.samples):
        return data
    return replace(data, samples=data.samples[:n], fingerprint=stable_hash({"data": data.fingerprint, "first": n}, length=32))


def _chain_source(planned: PlannedTask, chain: str, runs_dir: Path, base: TaskData, model: str,
                  shard: Shard | None) -> ChainSource:
    try:
        return resolve_chain(planned.task, chain, runs_dir, base.fingerprint, model)
    except OnkobenchError as err:
        if shard is None:
            raise
        raise OnkobenchError(f"{err} (a shard builds a chained step on the whole previous step, never on a shard of "
                             "it: merge that step's shards with `onkobench merge`, then rerun this shard with "
                             "--runs MERGED_DIR)") from None


def run_specs(planned: PlannedTask, limit: int | None, runs_dir: Path, shard: Shard | None = None) -> Iterator[RunSpec]:
    """The runs of one planned task: model by model, chain by chain, variant by variant; with ``shard``, each run
    on that shard's part of its samples (split after the limit and the chain, so a shard of a chained step builds on
    the whole previous step).

    Lazy on purpose: a chained step's source (``best``) is resolved from the runs finished before it.
    """
    base = first_samples(load_task_data(planned.task, planned.data_path), limit, planned.limit)
    for config, config_dir in planned.models:
        # a prompt-free baseline gives the same answers for every variant: run it once
        variants = planned.variants if config.uses_prompt else planned.variants[:1]
        for chain in planned.chains or (None,):
            # resolved once per chain and model: every variant builds on the same previous run
            source = None if chain is None else _chain_source(planned, chain, runs_dir, base, config.name, shard)
            for variant in variants:
                data = base if source is None else chained_data(planned.task, variant, base, source)
                record = None
                if shard is not None:
                    first = min((x for x in (limit, planned.limit) if x is not None), default=None)
                    data, record = split_data(data, shard, first, config.engine_version())
                yield RunSpec(planned.task, variant, config, data, config_dir, planned.prompt_pack,
                              variant.name not in planned.not_in_pack, record)


class RunnerPool:
    """Runners loaded on first use and kept for the whole plan; configs whose runner gives them the same
    engine key (vLLM: differing only in adapter or reasoning) share one engine."""

    def __init__(self, configs: Iterable[ModelConfig]) -> None:
        self.configs = {c.name: c for c in configs}
        self.runners: dict[str, Runner] = {}

    def get(self, spec: RunSpec) -> Runner:
        config = spec.model
        key = config.engine_key()
        slot = key or config.name
        if slot not in self.runners:
            peers = tuple(c for c in self.configs.values() if key and c.engine_key() == key and c.name != config.name)
            self.runners[slot] = create_runner(config, spec.config_dir or Path(), peers)
        return self.runners[slot]

    def close(self) -> None:
        for runner in self.runners.values():
            runner.close()


def run_plan(
    plan: Sequence[PlannedTask], out_dir: Path, limit: int | None = None, progress: bool = True,
    runs_dir: Path | None = None, wait: bool = False, shard: Shard | None = None, score_workers: int | None = None,
) -> Iterator[RunOutcome]:
    """Task by task in plan order (a chained step needs the previous step's runs); runners are reused.

    ``wait``: a run folder another run is writing is waited for instead of an error. ``shard``: run only that
    shard's samples of every run (``harness.pipeline.shards``). ``score_workers``: processes that score each run
    (``harness.scoring.workers.scoring_workers``)."""
    pool = RunnerPool(config for planned in plan for config, _ in planned.models)
    try:
        for planned in plan:
            for spec in run_specs(planned, limit, runs_dir or out_dir, shard):
                yield run_task_variant(spec, out_dir, partial(pool.get, spec), progress=progress, wait=wait,
                                       score_workers=score_workers)
    finally:
        pool.close()
