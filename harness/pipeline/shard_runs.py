"""The shard run folders ``onkobench merge`` is given: found without following links, grouped by run, checked to
belong together (the same run, the same shard count, every shard present)."""

from __future__ import annotations

import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import OnkobenchError
from harness.store import RunManifest, RunStore, ShardRecord


@dataclass(frozen=True)
class ShardRun:
    """One shard's folder of one run, with its manifest."""

    folder: Path
    manifest: RunManifest

    @property
    def shard(self) -> ShardRecord:
        assert self.manifest.shard is not None
        return self.manifest.shard

    @property
    def store(self) -> RunStore:
        return RunStore(self.folder)


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise OnkobenchError(f"{path}: a symbolic link; a shard folder must hold plain folders and files (copy the "
                             "results instead of linking them)")


def _checked_run_folder(folder: Path) -> None:
    """Refuse links anywhere in a run folder, and a manifest or responses file that is no plain file (a FIFO would
    block the merge)."""
    _refuse_link(folder)
    for entry in folder.rglob("*"):
        _refuse_link(entry)
    store = RunStore(folder)
    for path in (store.manifest_path, store.responses_path):
        if path.exists() and not stat.S_ISREG(path.lstat().st_mode):
            raise OnkobenchError(f"{path}: not a plain file")


def _run_folders(given: Path) -> list[Path]:
    """``given`` itself when it is a run folder, else the run folders directly inside it (``run --out`` makes)."""
    _refuse_link(given)
    if not given.is_dir():
        raise OnkobenchError(f"{given}: not a folder (give the --out folders of the shard runs)")
    if RunStore(given).manifest_path.exists():
        return [given]
    folders = sorted(child for child in given.iterdir() if child.is_symlink() or RunStore(child).manifest_path.exists())
    if not folders:
        raise OnkobenchError(f"{given}: holds no run folder (a folder with a manifest); give the --out folders of "
                             "`onkobench run --shard i/n`")
    return folders


def collect_shard_runs(paths: Sequence[Path]) -> dict[str, dict[int, list[ShardRun]]]:
    """run id -> shard index -> the folders holding that shard (several when a folder is given twice or a shard
    was run into two folders); every folder checked for links and read as a shard of a run."""
    runs: dict[str, dict[int, list[ShardRun]]] = {}
    seen: set[Path] = set()
    for given in paths:
        for folder in _run_folders(given):
            _checked_run_folder(folder)
            if folder.resolve() in seen:
                continue  # the same folder named twice (shards/* and shards/2)
            seen.add(folder.resolve())
            manifest = RunStore(folder).read_manifest()
            if manifest.shard is None:
                raise OnkobenchError(f"{folder}: a whole run, not a shard (made without --shard); merge joins the "
                                     "run folders of `onkobench run --shard i/n`")
            runs.setdefault(manifest.run_id, {}).setdefault(manifest.shard.index, []).append(ShardRun(folder, manifest))
    return runs


def _identity(manifest: RunManifest) -> dict[str, Callable[[], Any]]:
    """What the shards of one run must share, by the name an error shows."""
    shard = manifest.shard
    assert shard is not None
    return {
        "task": lambda: manifest.task,
        "task version": lambda: manifest.task_version,
        "variant": lambda: manifest.variant,
        "model config hash": lambda: manifest.model_config_hash,
        "prompt template hash": lambda: manifest.prompt_template_hash,
        "prompt pack": lambda: manifest.prompt_pack.hash if manifest.prompt_pack else None,
        "few-shot examples": lambda: manifest.shot_ids,
        "generation settings": lambda: manifest.generation,
        "chain": lambda: (manifest.upstream or {}).get("run_id") or manifest.chain_tag,
        "data fingerprint": lambda: shard.fingerprint,
        "base data fingerprint": lambda: shard.base_fingerprint,
        "sample count": lambda: shard.n_samples,
        "limit": lambda: shard.first,
        "shard count": lambda: shard.count,
        "engine version": lambda: shard.engine_version,
    }


def check_shards_belong_together(runs: dict[str, dict[int, list[ShardRun]]]) -> None:
    """One shard count for all; every run with shards 1..n; the shards of a run the same run (task, variant, config,
    data, templates, chain, engine). Errors name what differs or what is missing, with the folders."""
    counts = {run.shard.count: run.folder for shards in runs.values() for copies in shards.values() for run in copies}
    if len(counts) > 1:
        listed = ", ".join(f"{count} ({folder})" for count, folder in sorted(counts.items()))
        raise OnkobenchError(f"the shards were made with different shard counts: {listed}; merge the shards of one "
                             "split (--shard i/n with the same n)")
    for run_id, shards in sorted(runs.items()):
        count = next(iter(shards.values()))[0].shard.count
        missing = [i for i in range(1, count + 1) if i not in shards]
        if missing:
            have = ", ".join(f"{i} ({shards[i][0].folder.parent})" for i in sorted(shards))
            raise OnkobenchError(f"run {run_id}: shard(s) {', '.join(map(str, missing))} of {count} missing (have "
                                 f"{have}); give every shard's folder, or rerun the missing shard(s)")
        members = [run for index in sorted(shards) for run in shards[index]]
        reference = _identity(members[0].manifest)
        for run in members[1:]:
            for name, value in _identity(run.manifest).items():
                if value() != reference[name]():
                    raise OnkobenchError(
                        f"run {run_id}: the shards differ in {name}: shard {members[0].shard.label} ({members[0].folder}) "
                        f"has {reference[name]()!r}, shard {run.shard.label} ({run.folder}) {value()!r}; they are not "
                        "parts of one run (rerun the odd shard with the same task files, config, data and engine)")
