"""Run one task variant with one model: requests -> runner -> stored responses -> scores -> summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.models import ModelConfig
from harness.pipeline.response_writer import ResponseWriter
from harness.pipeline.spec import RunSpec
from harness.prompts import PromptRenderer, build_requests
from harness.provenance import provenance, utc_now
from harness.records import Request, Response
from harness.runners.base import Runner
from harness.scoring.run import score_stored
from harness.errors import OnkobenchError
from harness.store import RunManifest, RunStore, RunSummary, ShardRecord
from harness.config.tasks import Task, Variant
from harness.data import TaskData, training_split

EXTERNAL_VARIANT = "external"
"""The variant name recorded for outputs scored from a file without a prompt variant."""


@dataclass
class RunOutcome:
    folder: Path
    summary: RunSummary
    n_generated: int
    n_reused: int
    n_quarantined: int = 0
    """Unreadable lines of the stored responses moved to the store's quarantine file (their samples ran again)."""


SKIPPED_BY_RULE = "skipped_by_rule"


def _response_row(request: Request, response: Response) -> dict[str, Any]:
    return {
        **response.to_dict(),
        "task": request.task,
        "variant": request.variant,
        "sample_id": request.sample_id,
        "query_index": request.query_index,
        "query_item": request.query_item,
        "shot_ids": list(request.shot_ids),
        "messages_hash": request.messages_hash,
    }


def _skipped_response(request: Request) -> Response:
    return Response(key=request.key, text=request.skip_answer or "", finish_reason=SKIPPED_BY_RULE)


def finish_run(
    store: RunStore, manifest: RunManifest, spec: RunSpec, requests: Sequence[Request], workers: int | None = None,
) -> RunSummary:
    """Rescore the current requests from the stored responses (latest per key) and write scores and summary."""
    queries: dict[str, list[Request]] = {}
    for request in requests:  # request order = query order within a sample
        queries.setdefault(request.sample_id, []).append(request)
    return score_stored(store, manifest, spec.task, spec.variant, spec.data, queries, workers=workers)


def dataset_record(task: Task, data: TaskData) -> dict[str, Any]:
    record = {
        "source": data.source,
        "fingerprint": data.fingerprint,
        "n_samples": len(data.samples),
        "private": task.dataset.private,
        "synthetic": task.dataset.synthetic,
        "training_data": task.dataset.training_data,
    }
    if task.dataset.set_kind:
        record["set_kind"] = task.dataset.set_kind
    if data.chain is not None:
        record["base_fingerprint"] = data.chain["base_fingerprint"]
    if data.revision is not None or (task.dataset.hub and task.dataset.hub.reference_commit):
        record["revision"] = data.revision  # the commit loaded; None: it cannot be told
    if data.revision_warning:
        record["revision_warning"] = data.revision_warning
    if (train := training_split(task, required=False)) is not None:
        record["training_split"] = {"path": task.dataset.train, "sha256": train.sha256}
    return record


def build_manifest(
    run_id: str, task: Task, variant: Variant | None, config: ModelConfig, data: TaskData, engine: dict[str, Any],
    started_at: str, renderer: PromptRenderer | None = None, finished_at: str | None = None,
    prompt_pack: dict[str, Any] | None = None, shard: ShardRecord | None = None,
) -> RunManifest:
    """The run's manifest; without a renderer (outputs scored from a file) there is no prompt or generation,
    and without a variant the run is recorded under ``EXTERNAL_VARIANT``."""
    generation = task.generation_for(variant).model_dump(mode="json") if renderer and variant else {}
    return RunManifest(
        run_id=run_id,
        task=task.name,
        task_version=task.version,
        variant=variant.name if variant else EXTERNAL_VARIANT,
        model=config.model_dump(mode="json"),
        model_config_hash=config.config_hash(),
        dataset=dataset_record(task, data),
        upstream=data.chain,
        prompt_pack=prompt_pack,
        shard=shard,
        prompt_template_hash=renderer.template_hash() if renderer else "",
        shot_ids=[str(s["id"]) for s in renderer.shots] if renderer else [],
        generation=generation,
        engine=engine,
        started_at=started_at,
        finished_at=finished_at,
        **provenance(),
    )


def run_task_variant(
    spec: RunSpec, out_dir: Path, get_runner: Callable[[], Runner], progress: bool = True, wait: bool = False,
    score_workers: int | None = None,
) -> RunOutcome:
    """Generate what is missing from the run folder, then rescore everything. Safe to rerun after a crash.

    ``get_runner`` is called only when something is left to generate (a finished run loads no model). The run
    holds the folder's lock throughout: a second run on the same folder fails naming this one, or with ``wait``
    starts when it is done (and then finds its samples stored). ``score_workers``: processes that score the run.
    """
    task, variant, config = spec.task, spec.variant, spec.model
    renderer = PromptRenderer(task, variant, spec.prompts_dir)
    requests = build_requests(task, variant, spec.data.samples, config, renderer)
    store = RunStore(out_dir / spec.run_id)
    with store.lock(wait=wait):
        return _run_locked(spec, store, renderer, requests, get_runner, progress, score_workers)


def _run_locked(
    spec: RunSpec, store: RunStore, renderer: PromptRenderer, requests: Sequence[Request],
    get_runner: Callable[[], Runner], progress: bool, score_workers: int | None = None,
) -> RunOutcome:
    task, variant, config = spec.task, spec.variant, spec.model
    run_id = spec.run_id
    store.repair_torn_tail()
    quarantined = store.quarantine_unreadable()
    done = store.response_index().done()
    pending = [r for r in requests if r.key not in done]
    previous = store.read_manifest() if store.exists() else None
    _check_same_part(store, previous, spec)
    started_at = previous.started_at if previous else utc_now()
    engine: dict[str, Any] = previous.engine if previous else {}
    if any(r.skip_answer is None for r in pending):
        runner = get_runner()
        engine = runner.describe()
    manifest = build_manifest(run_id, task, variant, config, spec.data, engine, started_at, renderer,
                              prompt_pack=spec.prompt_pack_record, shard=spec.shard)
    store.write_manifest(manifest)
    skipped = [r for r in pending if r.skip_answer is not None]
    store.append_responses(_response_row(r, _skipped_response(r)) for r in skipped)
    to_generate = [r for r in pending if r.skip_answer is None]
    if to_generate:
        _generate_into(store, runner, to_generate, progress, desc=f"{config.name} {task.name}[{variant.name}]")
    manifest = manifest.model_copy(update={"finished_at": utc_now()})
    store.write_manifest(manifest)
    summary = finish_run(store, manifest, spec, requests, score_workers)
    return RunOutcome(store.folder, summary, n_generated=len(pending), n_reused=len(requests) - len(pending),
                      n_quarantined=quarantined)


def _part(shard: ShardRecord | None) -> str:
    return f"shard {shard.label}" if shard else "the whole run"


def _check_same_part(store: RunStore, previous: RunManifest | None, spec: RunSpec) -> None:
    """Refuse to write one shard into a folder holding another shard or a whole run (or the reverse): the merge
    reads a shard folder as holding that shard's samples only."""
    before = (previous.shard.index, previous.shard.count) if previous and previous.shard else None
    now = (spec.shard.index, spec.shard.count) if spec.shard else None
    if previous is not None and before != now:
        raise OnkobenchError(f"{store.folder}: holds {_part(previous.shard)}, not {_part(spec.shard)}; give each "
                             "shard (and the whole run) its own --out folder")


def _generate_into(store: RunStore, runner: Runner, pending: Sequence[Request], progress: bool, desc: str) -> None:
    from tqdm import tqdm

    by_key = {r.key: r for r in pending}
    # whatever finished before an error or Ctrl-C is stored: leaving the writer's block drains its queue
    with tqdm(total=len(pending), desc=desc, disable=not progress, unit="sample", leave=False) as bar, \
            ResponseWriter(store) as writer:
        for response in runner.generate(pending):
            writer.put(_response_row(by_key[response.key], response))
            bar.update(1)
