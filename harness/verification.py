"""``onkobench verify``: a published result against a maintainer's rerun of the same config.

The rerun must be of the same run: task and task version, variant, model config hash, data fingerprint (a
chained step's base data too), sample count and chain; anything else is refused, since its numbers would
say nothing about the submitted ones. Then the result is **reproduced** when both hold:

- per-item agreement >= ``AGREEMENT_THRESHOLD`` (0.99): the share of items whose per-item outcome is the
  same in both (parse status and the scorer values both sides have, from ``items``; for an older result
  without them, the ``correct`` vector), over the sample ids of both sides (an id on one side only
  disagrees). Decoding is greedy, so the same config on the same data gives the same answers; the slack
  is for numerical noise of other hardware flipping an occasional near-tie.
- every published metric's submitted value lies inside the rerun's 95% interval (a metric defined on one
  side only fails; one without an interval must match to rounding).

The verdict is written into the result file as its ``reproduction`` block (``harness.results.Reproduction``),
with a digest of the result as verified: a result edited afterwards no longer shows as reproduced.
Whether the submitted metrics follow from the submitted per-item data is ``onkobench validate``'s check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import OnkobenchError
from harness.provenance import utc_now
from harness.records import stable_hash
from harness.results import PublishedResult, Reproduction, published_result, read_result
from harness.store import MetricEstimate, RunStore, find_run_folders, write_json_atomic

AGREEMENT_THRESHOLD = 0.99
"""Least share of items with the same outcome in the rerun for a result to count as reproduced."""
ROUNDING = 1e-6
"""Published numbers are rounded to 6 digits; differences below this are equal."""


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found: the block written into the result, and what the CLI prints about it."""

    path: Path
    result: PublishedResult
    rerun: PublishedResult
    reproduction: Reproduction
    disagreeing: list[str]
    """Sample ids whose outcome differs (or that one side lacks), sorted."""


def result_digest(result: PublishedResult) -> str:
    """Hash of everything the result says except its reproduction block (defaults left out, so a field added to
    the schema later keeps old digests valid)."""
    content = result.model_dump(mode="json", by_alias=True, exclude={"reproduction"}, exclude_defaults=True)
    return stable_hash(content, length=32)


def standing_reproduction(result: PublishedResult) -> Reproduction | None:
    """The result's reproduction block if it still describes this result; None if absent or the result changed since."""
    block = result.reproduction
    return block if block is not None and block.result_digest == result_digest(result) else None


def _identity(result: PublishedResult) -> dict[str, Any]:
    """What makes two results runs of the same thing; the rerun must match each of these."""
    return {
        "task": result.task,
        "task_version": result.task_version,
        "variant": result.variant,
        "model_config_hash": result.model_config_hash,
        "data fingerprint": result.dataset.get("fingerprint"),
        "base data fingerprint": result.table_fingerprint,
        "n_samples": result.dataset.get("n_samples", result.n_samples),
        "chain": (result.upstream or {}).get("tag"),
        "prompt pack": result.prompt_pack.hash if result.prompt_pack else None,
    }


def check_same_run(result: PublishedResult, rerun: PublishedResult, where: str) -> None:
    """Refuse (one line naming every difference) a rerun that is not of the result's task, variant, config and data."""
    ours, theirs = _identity(result), _identity(rerun)
    differences = [f"{key} {ours[key]} vs {theirs[key]}" for key in ours if ours[key] != theirs[key]]
    if differences:
        raise OnkobenchError(f"{where}: the rerun is not of the same run ({'; '.join(differences)}; result vs rerun)")


def item_outcomes(result: PublishedResult, detailed: bool) -> dict[str, Any]:
    """Per sample id, what the result says happened to that item: its parse status and scorer values where the
    result carries them (``detailed``), else whether it was correct."""
    if detailed and result.items is not None:
        return {item.id: (item.status, item.values) for item in result.items}
    return dict(result.correct or {})


def same_outcome(ours: Any, theirs: Any) -> bool:
    """Equal outcomes; of two items' scorer values only the columns both have count (a scorer of a later commit may
    add a column without changing what the shared ones say)."""
    if not isinstance(ours, tuple):
        return ours == theirs
    (status, values), (other_status, other_values) = ours, theirs
    return status == other_status and all(values[k] == other_values[k] for k in values.keys() & other_values.keys())


def agreement(result: PublishedResult, rerun: PublishedResult) -> tuple[float, int, list[str]]:
    """(share of items with the same outcome, items compared, ids that disagree) over the ids of both sides."""
    detailed = result.items is not None and rerun.items is not None  # a format-1/2 result has the correct vector only
    ours, theirs = item_outcomes(result, detailed), item_outcomes(rerun, detailed)
    ids = ours.keys() | theirs.keys()
    disagreeing = sorted(i for i in ids if i not in ours or i not in theirs or not same_outcome(ours[i], theirs[i]))
    share = 1.0 - len(disagreeing) / len(ids) if ids else 0.0
    return share, len(ids), disagreeing


def metric_difference(submitted: MetricEstimate, rerun: MetricEstimate | None) -> tuple[float | None, bool]:
    """(rerun value minus submitted value, whether the submitted value lies inside the rerun's 95% interval)."""
    if rerun is None or submitted.value is None or rerun.value is None:
        both_undefined = rerun is not None and submitted.value is None and rerun.value is None
        return None, both_undefined
    difference = rerun.value - submitted.value
    if rerun.lo is None or rerun.hi is None:
        return difference, abs(difference) <= ROUNDING
    return difference, rerun.lo - ROUNDING <= submitted.value <= rerun.hi + ROUNDING


def compare(result: PublishedResult, rerun: PublishedResult) -> tuple[Reproduction, list[str]]:
    """The reproduction block for ``result`` given a rerun of the same run, and the ids that disagree."""
    share, n_compared, disagreeing = agreement(result, rerun)
    differences: dict[str, float | None] = {}
    outside = []
    for name in result.metric_order:
        difference, inside = metric_difference(result.metrics[name], rerun.metrics.get(name))
        differences[name] = None if difference is None else round(difference, 6)
        if not inside:
            outside.append(name)
    defined = [abs(d) for d in differences.values() if d is not None]
    block = Reproduction(
        reproduced=share >= AGREEMENT_THRESHOLD and not outside,
        agreement=round(share, 6),
        agreement_threshold=AGREEMENT_THRESHOLD,
        n_compared=n_compared,
        metric_differences=differences,
        max_metric_difference=max(defined, default=0.0),
        metrics_outside_interval=outside,
        result_digest=result_digest(result),
        rerun_run_id=rerun.run_id,
        rerun_commit=rerun.provenance.get("git_commit"),
        verified_at=utc_now(),
    )
    return block, disagreeing


def find_rerun(run_dir: Path, run_id: str) -> Path:
    """The run folder to compare with: ``run_dir`` itself, its only run, or its run with the result's run id."""
    folders = find_run_folders([run_dir])
    if len(folders) == 1:
        return folders[0]
    matching = [folder for folder in folders if RunStore(folder).read_summary().run_id == run_id]
    if len(matching) != 1:
        raise OnkobenchError(f"{run_dir}: {len(folders)} runs, {len(matching)} with run id {run_id}; give the rerun's folder")
    return matching[0]


def verify(result_path: Path, run_dir: Path) -> Verification:
    """Compare a published result with a rerun and write the verdict into the result file."""
    result = read_result(result_path)
    if result is None:
        raise OnkobenchError(f"{result_path}: not a published onkobench result")
    folder = find_rerun(run_dir, result.run_id)
    rerun = published_result(folder)
    check_same_run(result, rerun, f"{result_path}: {folder}")
    block, disagreeing = compare(result, rerun)
    # only the block changes: every other byte of the file stays as published (and as git shows it)
    data = json.loads(result_path.read_text(encoding="utf-8"))
    data["reproduction"] = block.model_dump(mode="json")
    PublishedResult.model_validate(data)
    write_json_atomic(result_path, data)
    return Verification(result_path, result, rerun, block, disagreeing)
