"""``onkobench publish``: run folders -> small result summaries for ``leaderboards/results/``.

A published result holds metrics, intervals, latency, tokens, hardware, the model config and its hash,
provenance, and a per-item correctness vector keyed by sample id (so paired tests can be recomputed).
It never holds sample text or model output; for a private data set this is checked on the written
bytes against every stored output, and publishing stops instead of writing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import OnkobenchError
from harness.config.io import REPO_ROOT
from harness.store import RunStore, find_run_folders, write_json_atomic

RESULT_KIND = "onkobench-result"
RESULT_FORMAT = 1
MIN_TEXT_CHECK = 12
"""Outputs shorter than this (a code, "Nein") cannot quote a snippet; longer ones are searched for."""


def _stored_texts(folder: Path) -> set[str]:
    texts: set[str] = set()
    for row in RunStore(folder).iter_responses():
        for field in ("text", "reasoning", "raw_text"):
            value = row.get(field)
            if isinstance(value, str) and len(value.strip()) >= MIN_TEXT_CHECK:
                texts.add(value.strip())
    return texts


def _config_hash(manifest: dict[str, Any]) -> str:
    from harness.config.models import ModelConfig

    try:
        return ModelConfig.model_validate(manifest["model"]).config_hash()
    except ValueError:
        return str(manifest["model_config_hash"])  # a config from an older schema: keep what the run recorded


def result_summary(folder: Path) -> dict[str, Any]:
    """The publishable summary of one run folder (whitelisted fields only)."""
    store = RunStore(folder)
    summary = store.read_summary().model_dump(mode="json")
    manifest = store.read_manifest().model_dump(mode="json")
    dataset = dict(summary["dataset"])
    source = str(dataset.get("source", ""))
    if not source.startswith("hf://"):
        path = Path(source)
        if path.is_relative_to(REPO_ROOT):
            dataset["source"] = str(path.relative_to(REPO_ROOT))  # data shipped with onkobench
        elif dataset.get("private"):
            dataset["source"] = path.name  # a local copy's path says nothing useful and may name a person
    upstream = summary.get("upstream")
    return {
        "kind": RESULT_KIND,
        "format": RESULT_FORMAT,
        "run_id": summary["run_id"],
        "task": summary["task"],
        "task_version": summary["task_version"],
        "family": summary["family"],
        "answer_kind": summary.get("answer_kind", ""),
        "variant": summary["variant"],
        "primary_metric": summary["primary_metric"],
        "metric_order": summary.get("metric_order", list(summary["metrics"])),
        "metrics": summary["metrics"],
        "n_samples": summary["n_samples"],
        "status_counts": summary["status_counts"],
        "latency": summary["latency"],
        "tokens": summary["tokens"],
        "model": summary["model"],
        "model_config": manifest["model"],
        # recomputed from the stored config, so the hash always follows the current definition
        "model_config_hash": _config_hash(manifest),
        "engine": summary.get("engine", {}),
        "hardware": summary.get("hardware", {}),
        "dataset": dataset,
        "upstream": {"tag": upstream.get("tag"), "run_id": upstream.get("run_id")} if upstream else None,
        "provenance": {**summary.get("provenance", {}), "packages": manifest.get("packages", {})},
        "correct": RunStore(folder).correctness(),
    }


def check_no_text(payload: str, texts: set[str], where: str) -> None:
    for text in texts:
        # as written in the JSON too, where quotes and newlines are escaped
        if text in payload or json.dumps(text, ensure_ascii=False)[1:-1] in payload:
            raise OnkobenchError(f"{where}: refusing to publish: it would contain model output or sample text")


def publish_runs(run_paths: list[Path], out_dir: Path) -> list[Path]:
    written = []
    for folder in find_run_folders(run_paths):
        result = result_summary(folder)
        payload = json.dumps(result, ensure_ascii=False, sort_keys=True)
        if result["dataset"].get("private"):
            check_no_text(payload, _stored_texts(folder), str(folder))
        target = out_dir / f"{result['run_id']}.json"
        write_json_atomic(target, result)
        written.append(target)
    return written
