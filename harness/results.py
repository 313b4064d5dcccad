"""``onkobench publish``: run folders -> small result files for ``leaderboards/results/``.

A published result holds metrics, intervals, latency, tokens, hardware, the model config and its hash,
provenance, and a per-item correctness vector keyed by sample id (so paired tests can be recomputed).
It never holds sample text or model output; for a private data set this is checked on the written
bytes against every stored output, and publishing stops instead of writing.

``PublishedResult`` is the schema of those files. It reads like a ``RunSummary`` (same field names,
``primary``, ``table_fingerprint``), so the report treats a published result and a local run alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.config.io import REPO_ROOT, validated
from harness.errors import OnkobenchError
from harness.store import (
    MetricEstimate, ModelSummary, RunManifest, RunStore, RunSummary, find_run_folders, table_fingerprint, write_json_atomic,
)

RESULT_KIND = "onkobench-result"
RESULT_FORMAT = 2
"""Version of a published result file. 1: written field by field, read without a schema; 2: ``PublishedResult``
(the same fields, all required). A format-1 file is migrated when it is read."""
MIN_TEXT_CHECK = 12
"""Outputs shorter than this (a code, "Nein") cannot quote a snippet; longer ones are searched for."""


class PublishedResult(BaseModel):
    """One ``leaderboards/results/**/*.json`` file: what a run may show publicly, and nothing else."""

    # populate_by_name: ``from_run`` sets ``config=``; files use the alias (validate_by_name needs pydantic 2.11)
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=(), populate_by_name=True)

    kind: Literal["onkobench-result"]
    format: Literal[2]
    run_id: str
    task: str
    task_version: int
    family: str
    answer_kind: str
    variant: str
    primary_metric: str
    metric_order: list[str]
    metrics: dict[str, MetricEstimate]
    n_samples: int
    status_counts: dict[str, int]
    latency: dict[str, float | None]
    tokens: dict[str, float | None]
    model: ModelSummary
    config: dict[str, Any] = Field(alias="model_config")
    """The full model config of the run (``model_config`` in the file; that name is pydantic's own)."""
    model_config_hash: str
    engine: dict[str, Any]
    hardware: dict[str, Any]
    dataset: dict[str, Any]
    """As in the run's summary, with a local path shortened (see ``_public_dataset``)."""
    upstream: dict[str, str | None] | None
    """For a chained step: the tag and run id it was built from (no local folder)."""
    provenance: dict[str, Any]
    correct: dict[str, int]
    """Per-item correctness (0 or 1) keyed by sample id."""

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Format 1 had the same fields; its readers tolerated an empty metric order (= the order of metrics)."""
        if isinstance(data, dict) and data.get("format") == 1:
            data = {**data, "format": RESULT_FORMAT}
            if not data.get("metric_order") and isinstance(data.get("metrics"), dict):
                data["metric_order"] = list(data["metrics"])
        return data

    @field_validator("correct", mode="before")
    @classmethod
    def _zero_or_one(cls, value: Any) -> Any:
        # checked on the raw values, so "1", 1.0 or 2 are refused instead of coerced; one line for the whole vector
        if isinstance(value, dict) and not all(isinstance(v, int) and v in (0, 1) for v in value.values()):
            raise ValueError("values must be 0 or 1")
        return value

    @classmethod
    def from_run(cls, summary: RunSummary, manifest: RunManifest, correct: dict[str, int]) -> PublishedResult:
        upstream = summary.upstream
        return cls(
            kind=RESULT_KIND,
            format=RESULT_FORMAT,
            run_id=summary.run_id,
            task=summary.task,
            task_version=summary.task_version,
            family=summary.family,
            answer_kind=summary.answer_kind,
            variant=summary.variant,
            primary_metric=summary.primary_metric,
            metric_order=summary.metric_order,
            metrics=summary.metrics,
            n_samples=summary.n_samples,
            status_counts=summary.status_counts,
            latency=summary.latency,
            tokens=summary.tokens,
            model=summary.model,
            config=manifest.model,
            # recomputed from the stored config, so the hash always follows the current definition
            model_config_hash=_config_hash(manifest),
            engine=summary.engine,
            hardware=summary.hardware,
            dataset=_public_dataset(summary.dataset),
            upstream={"tag": upstream.get("tag"), "run_id": upstream.get("run_id")} if upstream else None,
            provenance={**summary.provenance, "packages": manifest.packages},
            correct=correct,
        )

    @property
    def primary(self) -> MetricEstimate:
        return self.metrics[self.primary_metric]

    @property
    def table_fingerprint(self) -> str:
        return table_fingerprint(self.dataset)

    def to_json(self) -> dict[str, Any]:
        """The file's content (``model_config`` under its own name)."""
        return self.model_dump(mode="json", by_alias=True)


ResultSummary = RunSummary | PublishedResult
"""What a leaderboard row shows: a local run's summary or a published result (both read the same)."""


def read_result(path: Path) -> PublishedResult | None:
    """The published result in a ``*.json`` file; None for any other JSON (or non-JSON) file.
    A file of the result kind that breaks the schema is an error naming the file and field."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("kind") != RESULT_KIND:
        return None
    return validated(PublishedResult, data, str(path))


def _stored_texts(folder: Path) -> set[str]:
    texts: set[str] = set()
    for row in RunStore(folder).iter_responses():
        for field in ("text", "reasoning", "raw_text"):
            value = row.get(field)
            if isinstance(value, str) and len(value.strip()) >= MIN_TEXT_CHECK:
                texts.add(value.strip())
    return texts


def _config_hash(manifest: RunManifest) -> str:
    from harness.config.models import ModelConfig

    try:
        return ModelConfig.model_validate(manifest.model).config_hash()
    except ValueError:
        return manifest.model_config_hash  # a config from an older schema: keep what the run recorded


def _public_dataset(dataset: dict[str, Any]) -> dict[str, Any]:
    """The data set as published: a path inside the checkout made relative, a private local copy's path cut to its
    file name (the path says nothing useful and may name a person)."""
    public = dict(dataset)
    source = str(public.get("source", ""))
    if not source.startswith("hf://"):
        path = Path(source)
        if path.is_relative_to(REPO_ROOT):
            public["source"] = str(path.relative_to(REPO_ROOT))  # data shipped with onkobench
        elif public.get("private"):
            public["source"] = path.name
    return public


def published_result(folder: Path) -> PublishedResult:
    """The publishable result of one run folder."""
    store = RunStore(folder)
    return PublishedResult.from_run(store.read_summary(), store.read_manifest(), store.correctness())


def check_no_text(payload: str, texts: set[str], where: str) -> None:
    for text in texts:
        # as written in the JSON too, where quotes and newlines are escaped
        if text in payload or json.dumps(text, ensure_ascii=False)[1:-1] in payload:
            raise OnkobenchError(f"{where}: refusing to publish: it would contain model output or sample text")


def publish_runs(run_paths: list[Path], out_dir: Path) -> list[Path]:
    written = []
    for folder in find_run_folders(run_paths):
        result = published_result(folder)
        content = result.to_json()
        if result.dataset.get("private"):
            check_no_text(json.dumps(content, ensure_ascii=False, sort_keys=True), _stored_texts(folder), str(folder))
        target = out_dir / f"{result.run_id}.json"
        write_json_atomic(target, content)
        written.append(target)
    return written
