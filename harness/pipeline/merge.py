"""``onkobench merge``: the shard folders of a split run (``onkobench run --shard i/n`` on n machines) -> one folder
of whole runs, each sample exactly once, scored anew from the merged raw outputs.

Per run: the shards must belong together (``shard_runs``); the whole run is rebuilt here as an unsharded run would
be (task, variant, config from the manifest, data checked by fingerprint, the request keys made with the shards'
engine version); every request must have an answer in the folder of its sample's shard, and every line of a shard's
responses must be readable and belong to that shard (errors name the file and line). The merged folder holds the
latest answer per request, copied byte for byte, and the manifest of the whole run; scoring then runs as for any
run, so ``score``, ``report``, ``publish`` and ``verify`` take it as if it had run on one machine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import ValidationError

from harness.config.io import REPO_ROOT
from harness.config.models import ModelConfig
from harness.config.prompt_packs import PromptPack, apply_prompt_pack, load_prompt_pack
from harness.config.tasks import default_tasks_dir, load_task
from harness.data import load_task_data
from harness.errors import OnkobenchError
from harness.pipeline.chains import ChainSource, chained_data
from harness.pipeline.plan import first_samples, on_synthetic_data
from harness.pipeline.run import build_manifest, finish_run
from harness.pipeline.shard_runs import ShardRun, check_shards_belong_together, collect_shard_runs
from harness.pipeline.shards import shard_of
from harness.pipeline.spec import RunSpec
from harness.prompts import PromptRenderer, build_requests
from harness.records import Request
from harness.store import RunManifest, RunStore, RunSummary, ShardRecord, atomic_file


@dataclass(frozen=True)
class MergeOutcome:
    folder: Path
    summary: RunSummary
    n_shards: int


@dataclass(frozen=True)
class _Answer:
    """Where the latest stored answer of a request is: the shard's responses file and the line's byte offset."""

    path: Path
    offset: int


def _data_path(manifest: RunManifest, given: Path | None) -> Path | None:
    """``--data`` when given; else the file the shards recorded if it is shipped with onkobench or in the tasks folder
    (a path from a hostile manifest is never read elsewhere); else None: the task's own data."""
    if given is not None:
        return given
    source = str(manifest.dataset.get("source", ""))
    if not source or source.startswith("hf://"):
        return None
    path = Path(source).resolve()
    inside = path.is_relative_to(REPO_ROOT) or path.is_relative_to(default_tasks_dir().resolve())
    return path if inside and path.is_file() else None


def _upstream(manifest: RunManifest, runs_dir: Path) -> ChainSource:
    """A chained step's source: gold, or the whole upstream run, by its run id in ``runs_dir`` (where the previous
    step was merged; a folder named in a shard's manifest is never read)."""
    upstream = manifest.upstream or {}
    if upstream.get("tag") == "gold":
        return ChainSource(None)
    run_id = str(upstream.get("run_id"))
    store = RunStore(runs_dir / run_id)
    if Path(run_id).name != run_id or run_id in (".", "..") or not store.has_scores() \
            or store.read_manifest().shard is not None:
        raise OnkobenchError(f"run {manifest.run_id}: its chained inputs come from the whole run {run_id}, which is "
                             f"not in {runs_dir}; merge that step first (into --out), or give --runs")
    return ChainSource(store.folder)


def _prompt_pack(manifest: RunManifest, pack: PromptPack | None) -> PromptPack | None:
    recorded = manifest.prompt_pack
    if recorded is None:
        return None
    if pack is None or pack.content_hash != recorded.hash:
        found = f"--prompts has hash {pack.content_hash}" if pack else "no --prompts given"
        raise OnkobenchError(f"run {manifest.run_id}: made with prompt pack {recorded.name} (hash {recorded.hash}); "
                             f"{found}: give --prompts with that pack")
    return pack


def whole_spec(manifest: RunManifest, data_path: Path | None, pack: PromptPack | None, runs_dir: Path) -> RunSpec:
    """The run the shards are parts of, rebuilt here as ``onkobench run`` without ``--shard`` would build it;
    refused when this checkout's task, templates or data are not what the shards ran."""
    shard = manifest.shard
    assert shard is not None
    pack = _prompt_pack(manifest, pack)
    if manifest.task.endswith((".yaml", ".yml")):  # a name only: never a task file a shard folder could bring
        raise OnkobenchError(f"run {manifest.run_id}: task {manifest.task!r} is not a task name")
    task = apply_prompt_pack(load_task(manifest.task), pack.folder if pack else None)
    if manifest.dataset.get("synthetic") and not task.dataset.synthetic:
        task = on_synthetic_data(task)  # the shards ran a suite entry marked synthetic: so is the whole run
    if task.version != manifest.task_version:
        raise OnkobenchError(f"run {manifest.run_id}: the shards ran version {manifest.task_version} of {task.name}, "
                             f"this checkout has version {task.version}")
    if manifest.variant not in task.variants:
        raise OnkobenchError(f"run {manifest.run_id}: task {task.name} has no variant {manifest.variant!r} here")
    try:
        config = ModelConfig.model_validate(manifest.model)
    except ValidationError as err:
        raise OnkobenchError(f"run {manifest.run_id}: its model config does not load here ({err.errors()[0]['msg']})") from None
    if config.config_hash() != manifest.model_config_hash:
        raise OnkobenchError(f"run {manifest.run_id}: its model config hashes to {config.config_hash()} here, the "
                             f"shards recorded {manifest.model_config_hash}")
    variant = task.variants[manifest.variant]
    base = first_samples(load_task_data(task, _data_path(manifest, data_path)), shard.first)
    data = base if task.upstream is None else chained_data(task, variant, base, _upstream(manifest, runs_dir))
    if data.fingerprint != shard.fingerprint:
        raise OnkobenchError(f"run {manifest.run_id}: the data here (fingerprint {data.fingerprint}, {data.source}) is "
                             f"not the data the shards ran (fingerprint {shard.fingerprint}, "
                             f"{manifest.dataset.get('source')}); give --data with that file")
    in_pack = manifest.prompt_pack.variant_in_pack if manifest.prompt_pack else True
    spec = RunSpec(task, variant, config, data, None, pack, in_pack)
    if spec.run_id != manifest.run_id:
        raise OnkobenchError(f"run {manifest.run_id}: rebuilt here it is run {spec.run_id} (another chain or pack)")
    return spec


def _latest_answers(run: ShardRun, expected: dict[str, Request], sample_ids: set[str]) -> dict[str, _Answer]:
    """The latest stored line of each expected request in one shard's responses; every line must be a readable
    response of a sample of this shard (errors name the file and line). Lines of other requests of the shard's
    samples are earlier tries under other keys (another engine or template), ignored as a run ignores them."""
    path, shard = run.store.responses_path, run.shard
    latest: dict[str, _Answer] = {}
    if not path.exists():
        return latest
    with path.open("rb") as handle:
        offset = 0
        for number, line in enumerate(handle, start=1):
            where = f"{path}: line {number}"
            if not line.endswith(b"\n"):
                raise OnkobenchError(f"{where}: cut off (no line end): shard {shard.label} was interrupted; rerun it "
                                     "with the same command (it repairs the file and finishes the shard)")
            try:
                row = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                raise OnkobenchError(f"{where}: not a JSON line; rerun shard {shard.label} with the same command (it "
                                     "moves unreadable lines aside and redoes their samples)") from None
            if not isinstance(row, dict) or not isinstance(row.get("key"), str) or not isinstance(row.get("sample_id"), str):
                raise OnkobenchError(f"{where}: not a response (needs a string key and sample_id)")
            sample_id = row["sample_id"]
            if sample_id not in sample_ids:
                raise OnkobenchError(f"{where}: sample {sample_id!r} is not a sample of run {run.manifest.run_id}")
            owner = shard_of(sample_id, shard.count)
            if owner != shard.index:
                raise OnkobenchError(f"{where}: sample {sample_id!r} belongs to shard {owner}/{shard.count}, not to "
                                     f"shard {shard.label} that this folder holds")
            request = expected.get(row["key"])
            if request is not None:
                if request.sample_id != sample_id or row.get("query_index", 0) != request.query_index:
                    raise OnkobenchError(f"{where}: the answer to sample {request.sample_id!r} query "
                                         f"{request.query_index} is stored for sample {sample_id!r}")
                latest[row["key"]] = _Answer(path, offset)
            offset += len(line)
    return latest


def _line(handles: dict[Path, BinaryIO], stack: ExitStack, answer: _Answer) -> bytes:
    if answer.path not in handles:
        handles[answer.path] = stack.enter_context(answer.path.open("rb"))
    handle = handles[answer.path]
    handle.seek(answer.offset)
    return handle.readline()


def _one_copy(run_id: str, copies: list[ShardRun], expected: dict[str, Request], sample_ids: set[str]) -> dict[str, _Answer]:
    """The answers of a shard; a shard given in several folders must have the same answers in each."""
    found = [(run, _latest_answers(run, expected, sample_ids)) for run in copies]
    first_run, first = found[0]
    with ExitStack() as stack:
        handles: dict[Path, BinaryIO] = {}
        for run, answers in found[1:]:
            differing = sorted(key for key in first.keys() | answers.keys() if key not in first or key not in answers
                               or _line(handles, stack, first[key]) != _line(handles, stack, answers[key]))
            if differing:
                raise OnkobenchError(
                    f"run {run_id}: shard {run.shard.label} is given twice with different answers ({first_run.folder} "
                    f"and {run.folder}, e.g. sample {expected[differing[0]].sample_id!r}); give only one of them")
    return first


def _merged_answers(run_id: str, shards: dict[int, list[ShardRun]], requests: Sequence[Request],
                    sample_ids: set[str]) -> dict[str, _Answer]:
    count = next(iter(shards.values()))[0].shard.count
    expected_by_shard: dict[int, dict[str, Request]] = {index: {} for index in range(1, count + 1)}
    for request in requests:
        expected_by_shard[shard_of(request.sample_id, count)][request.key] = request
    answers: dict[str, _Answer] = {}
    for index, expected in expected_by_shard.items():
        found = _one_copy(run_id, shards[index], expected, sample_ids)
        missing = [request for key, request in expected.items() if key not in found]
        if missing:
            raise OnkobenchError(
                f"run {run_id}: shard {index}/{count} ({shards[index][0].folder}) has no answer for {len(missing)} of "
                f"its {len(expected)} requests (first: sample {missing[0].sample_id!r}): the shard did not finish, or "
                "ran other inputs; rerun it with the same command")
        answers.update(found)
    return answers


def _provenance(shards: dict[int, list[ShardRun]]) -> dict[str, Any]:
    """The merged manifest's provenance: shard 1's, with every shard's listed in ``merged_from``."""
    parts = [shards[index][0].manifest for index in sorted(shards)]
    first = parts[0]
    finished = [m.finished_at for m in parts if m.finished_at]
    return {
        "harness_version": first.harness_version, "git_commit": first.git_commit, "git_dirty": first.git_dirty,
        "packages": first.packages, "hardware": first.hardware,
        "started_at": min(m.started_at for m in parts), "finished_at": max(finished) if finished else None,
        "merged_from": [{"index": m.shard.index, "started_at": m.started_at, "finished_at": m.finished_at,  # type: ignore[union-attr]
                         "engine": m.engine, "hardware": m.hardware, "git_commit": m.git_commit,
                         "harness_version": m.harness_version} for m in parts],
    }


def _target(out_dir: Path, run_id: str) -> RunStore:
    """The merged run's folder: new, or one an earlier merge wrote (replaced whole); never a run or shard folder."""
    store = RunStore(out_dir / run_id)
    if store.folder.is_symlink():
        raise OnkobenchError(f"{store.folder}: a symbolic link; merge into a plain folder")
    if store.exists() and store.read_manifest().merged_from is None:
        raise OnkobenchError(f"{store.folder}: holds a run that merge did not write; merge into another --out")
    return store


def merge_run(run_id: str, shards: dict[int, list[ShardRun]], out_dir: Path, data_path: Path | None,
              pack: PromptPack | None, runs_dir: Path) -> MergeOutcome:
    reference = shards[1][0]
    record: ShardRecord = reference.shard
    spec = whole_spec(reference.manifest, data_path, pack, runs_dir)
    renderer = PromptRenderer(spec.task, spec.variant, spec.prompts_dir)
    if renderer.template_hash() != reference.manifest.prompt_template_hash:
        raise OnkobenchError(f"run {run_id}: the task's templates here (hash {renderer.template_hash()}) are not the "
                             f"ones the shards ran ({reference.manifest.prompt_template_hash})")
    requests = build_requests(spec.task, spec.variant, spec.data.samples, spec.model, renderer, record.engine_version)
    answers = _merged_answers(run_id, shards, requests, set(spec.data.by_id))
    target = _target(out_dir, run_id)
    with target.lock():
        with atomic_file(target.responses_path) as out, ExitStack() as stack:
            handles: dict[Path, BinaryIO] = {}
            for request in requests:
                out.write(_line(handles, stack, answers[request.key]))
        provenance = _provenance(shards)
        manifest = build_manifest(run_id, spec.task, spec.variant, spec.model, spec.data, reference.manifest.engine,
                                  provenance.pop("started_at"), renderer, provenance.pop("finished_at"),
                                  spec.prompt_pack_record)
        manifest = manifest.model_copy(update=provenance)
        target.write_manifest(manifest)
        summary = finish_run(target, manifest, spec, requests)
    return MergeOutcome(target.folder, summary, len(shards))


def _depth(manifest: RunManifest) -> int:
    """How many steps a run's chain goes back (gold inputs count none): earlier steps are merged first."""
    upstream = manifest.upstream
    if not upstream or upstream.get("tag") == "gold":
        return 0
    lineage = upstream.get("lineage")
    return len(lineage) if isinstance(lineage, list) else 1


def merge_shards(paths: Sequence[Path], out_dir: Path, data_path: Path | None = None, prompts_dir: Path | None = None,
                 runs_dir: Path | None = None) -> list[MergeOutcome]:
    """Merge the shard folders ``paths`` into whole runs in ``out_dir``, earlier steps of a chain first. That the
    shards belong together is checked before anything is written, each run's answers before its folder is written.
    ``runs_dir`` (default ``out_dir``): where a chained step's whole upstream run is looked up."""
    runs = collect_shard_runs(paths)
    if not runs:
        raise OnkobenchError(f"no shard runs in {', '.join(map(str, paths))}")
    check_shards_belong_together(runs)
    pack = load_prompt_pack(prompts_dir) if prompts_dir is not None else None
    order = sorted(runs, key=lambda run_id: (_depth(runs[run_id][1][0].manifest), run_id))
    return [merge_run(run_id, runs[run_id], out_dir, data_path, pack, runs_dir or out_dir) for run_id in order]
