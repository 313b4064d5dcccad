"""Chained steps: samples of step N built from a stored run of step N-1, or from gold labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import OnkobenchError
from harness.records import stable_hash
from harness.registry import Registry
from harness.store import RunManifest, RunStore, refuse_shard, run_manifests
from harness.config.tasks import Task, Variant
from harness.data import Sample, TaskData

Expander = Callable[[Task, Sequence[Sample], Sequence[dict[str, Any]], dict[str, Any]], list[Sample]]
EXPANDERS: Registry[Expander] = Registry("sample expander")
"""Registered by families: base samples + the upstream run's score rows + options -> this step's samples."""


@dataclass(frozen=True)
class RecordsAsUpstream:
    """How an outputs file of a chained step stands in for the previous step's run (``onkobench score``).

    ``required``: the keys each record needs besides ``id`` and ``output``; ``rows``: the records grouped by
    sample id of the base data -> the score rows the step's expander reads from a real upstream run.
    """

    required: tuple[str, ...]
    rows: Callable[[dict[str, list[dict[str, Any]]]], list[dict[str, Any]]]


UPSTREAM_FROM_RECORDS: Registry[RecordsAsUpstream] = Registry("outputs-file layout of a chained step")
"""Keyed by the expander name, registered next to the expander."""


@dataclass(frozen=True)
class ChainSource:
    """Where a chained step's inputs come from: a run folder of the previous step, or gold labels."""

    folder: Path | None

    @property
    def is_gold(self) -> bool:
        return self.folder is None


def _primary(store: RunStore) -> tuple[float, int]:
    estimate = store.read_summary().primary
    return (estimate.value if estimate.value is not None else -1.0, estimate.n)


def find_best_run(runs_dir: Path, upstream_task: str, fingerprint: str, model: str | None = None) -> Path:
    """The run of ``upstream_task`` on the same data with the highest primary metric.

    Ties: the larger n first, then the alphabetically first run id, so the choice never depends on
    the order in which the file system lists folders.
    """
    candidates = []
    for folder, manifest in run_manifests(runs_dir):
        store = RunStore(folder)
        if manifest.task != upstream_task or not store.has_summary():
            continue
        if manifest.table_fingerprint != fingerprint:
            continue
        if model is not None and manifest.model.get("name") != model:
            continue
        if manifest.chain_tag == "gold":
            continue  # a step fed with gold inputs is a comparison aid, never a link of a real chain
        value, n = _primary(store)
        candidates.append((-value, -n, folder.name, folder))
    if not candidates:
        who = f" of model {model}" if model else ""
        raise OnkobenchError(f"no finished {upstream_task} run{who} on this dataset under {runs_dir}")
    return min(candidates)[3]


def resolve_chain(task: Task, chain: str | None, runs_dir: Path, fingerprint: str, model: str | None) -> ChainSource:
    """``gold``, ``best``, ``own-best`` or a run folder path -> ChainSource."""
    if task.upstream is None:
        raise OnkobenchError(f"task {task.name} is not a chained step (no 'upstream' in its definition)")
    if chain in (None, ""):
        raise OnkobenchError(f"task {task.name} needs its inputs: --chain RUN_DIR|best|own-best or --gold")
    if chain == "gold":
        return ChainSource(None)
    if chain == "best":
        return ChainSource(find_best_run(runs_dir, task.upstream.task, fingerprint))
    if chain == "own-best":
        return ChainSource(find_best_run(runs_dir, task.upstream.task, fingerprint, model))
    store = RunStore(Path(chain))
    if not store.exists() or not store.has_scores():
        raise OnkobenchError(f"{store.folder}: not a finished run folder (needs its manifest and scores)")
    manifest = store.read_manifest()
    refuse_shard(manifest.shard, store.folder, "a chained step")
    if manifest.task != task.upstream.task:
        raise OnkobenchError(f"{store.folder}: a run of {manifest.task}, but {task.name} builds on {task.upstream.task}")
    return ChainSource(store.folder)


def _lineage(manifest: RunManifest) -> list[dict[str, Any]] | None:
    """The upstream runs of a step built on ``manifest``'s run, nearest first (task, variant, model config name), so a
    report can tell which chain a table stands on without parsing run ids; a gold upstream is ``{"gold": True}``.
    None when that run's own upstream did not record its lineage (a run older than this record)."""
    own = {"task": manifest.task, "variant": manifest.variant, "model": manifest.model.get("name")}
    before = manifest.upstream
    if before is None:
        return [own]
    if before.get("tag") == "gold":
        return [own, {"gold": True}]
    earlier = before.get("lineage")
    return [own, *earlier] if isinstance(earlier, list) else None


def chained_data(task: Task, variant: Variant, base: TaskData, source: ChainSource) -> TaskData:
    """This step's samples for one variant, from the base dataset and the chain source."""
    assert task.upstream is not None
    options = {**task.upstream.options, **variant.upstream}
    if source.is_gold:
        samples = EXPANDERS.get(task.upstream.gold)(task, base.samples, [], options)
        chain = {"tag": "gold", "run_id": None, "folder": None}
    else:
        assert source.folder is not None
        store = RunStore(source.folder)
        manifest = store.read_manifest()
        upstream_fp = manifest.table_fingerprint
        if upstream_fp != base.fingerprint:
            raise OnkobenchError(f"{store.folder}: that run used other data (fingerprint {upstream_fp}, this one {base.fingerprint})")
        samples = EXPANDERS.get(task.upstream.expand)(task, base.samples, list(store.iter_scores()), options)
        run_id = manifest.run_id
        tag = f"{manifest.variant}.{manifest.model['name']}.{stable_hash(run_id, length=6)}"
        chain = {"tag": tag, "run_id": run_id, "folder": str(store.folder), "lineage": _lineage(manifest)}
        if store.has_summary():
            summary = store.read_summary()
            chain["primary_metric"] = summary.primary_metric
            chain["primary_value"] = summary.primary.value
    fingerprint = stable_hash({"base": base.fingerprint, "chain": chain["run_id"] or "gold", "options": options}, length=32)
    return replace(base, samples=samples, fingerprint=fingerprint, chain={**chain, "base_fingerprint": base.fingerprint})
