"""Published reference rows (numbers reported by the studies), shown beside measured rows.

A chained step's published value was measured on certain upstream results (a chain); a table shows it among its
rows only when the table's own upstream runs are the same models and variants, step by step (``chain_matches``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.config.io import REPO_ROOT, read_yaml, validated

PUBLISHED_DIR = REPO_ROOT / "leaderboards" / "published"

CHAIN_KINDS = ("overall-best", "own-best", "other-model-own-best")
"""Why a study ran a step on a chain: on the overall best previous-step result (every model did; for the model that
made it, also its own best), on the model's own best previous-step results, or on another model's own best chain
(a baseline that ran inside every model's runs)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChainStep(_Frozen):
    """One upstream result a published value was measured on: the study's model (a key of ``models``) and variant."""

    task: str
    model: str
    variant: str


class PublishedChain(_Frozen):
    kind: Literal[CHAIN_KINDS]  # type: ignore[valid-type]
    upstream: tuple[ChainStep, ...] = Field(min_length=1)
    """Nearest first: for step 3, the step-2 result, then the step-1 result it was built on."""

    @property
    def label(self) -> str:
        steps = " on ".join(f"{step.model} [{step.variant}]" for step in self.upstream)
        return f"on {steps} ({self.kind})"


class ModelLink(_Frozen):
    """How a study's model is known outside the study: its hub id and the onkobench model configs with its weights."""

    hub_id: str | None = None
    onkobench: tuple[str, ...] = ()


class PublishedRow(_Frozen):
    task: str
    metric: str
    model: str
    value: float
    variant: str | None = None
    note: str = ""
    figure: str = ""
    """Where in the publication the value is (e.g. "Figure S2")."""
    chain: PublishedChain | None = None
    """For a chained step: the upstream results the value was measured on (None: not chained, or not reported)."""
    metrics: dict[str, float] = {}
    """Secondary metrics of the same result, by onkobench metric name."""


class Band(_Frozen):
    """A reference range drawn behind a metric's bars (e.g. the label-quality ceiling)."""

    metric: str
    answer_kind: str
    lo: float
    hi: float
    label: str
    where: dict[str, bool | str] = {"synthetic": False}
    """What the table's data must be for the band to apply: fields of its dataset record and their values (a field
    the record lacks reads as false or empty). By default real data only: a ceiling measured on real labels says
    nothing about synthetic data."""

    def applies_to(self, answer_kind: str, dataset: dict[str, Any]) -> bool:
        """Whether a table of this answer kind on this data (its dataset record) gets the band."""
        if answer_kind != self.answer_kind:
            return False
        return all((dataset.get(key) or type(value)()) == value for key, value in self.where.items())


class PublishedSet(_Frozen):
    source: str
    dataset: str
    """The data the numbers were measured on (``hf://owner/name`` as in run manifests)."""
    models: dict[str, ModelLink] = {}
    """The study's models (as rows and chains name them) -> how onkobench knows them; if given, it lists them all."""
    rows: tuple[PublishedRow, ...] = ()
    bands: tuple[Band, ...] = ()

    @model_validator(mode="after")
    def _models_listed(self) -> PublishedSet:
        if not self.models:
            return self
        for index, row in enumerate(self.rows):
            named = [row.model, *(step.model for step in (row.chain.upstream if row.chain else ()))]
            unknown = [name for name in named if name not in self.models]
            if unknown:
                raise ValueError(f"rows.{index}: model {unknown[0]!r} is not listed under models")
        return self

    def onkobench_names(self, model: str) -> tuple[str, ...]:
        link = self.models.get(model)
        return link.onkobench if link else ()

    def chain_matches(self, row: PublishedRow, lineage: list[dict[str, Any]] | None) -> bool:
        """Whether ``row`` was measured on the chain a table's runs were built on.

        ``lineage``: the table's upstream runs, nearest first (``task``, ``model`` config name, ``variant``; the
        ``lineage`` of a run's recorded upstream), ``[]`` for a table that is not chained, None where the runs did not
        record it (then nothing matches: onkobench cannot tell). A row without a chain matches only a table that is
        not chained. Same chain = same length and, step by step, the same task and variant and a model config that
        runs the study's model (``models``): the same inputs were asked for, not necessarily the same upstream
        answers (another engine may answer differently)."""
        steps = row.chain.upstream if row.chain else ()
        if lineage is None or len(steps) != len(lineage):
            return False
        return all(isinstance(ours, dict) and ours.get("task") == step.task and ours.get("variant") == step.variant
                   and ours.get("model") in self.onkobench_names(step.model) for step, ours in zip(steps, lineage))

    def runs_same(self, row: PublishedRow, model: str, variant: str) -> bool:
        """Whether a local row (model config name, variant) runs what ``row`` reports (a row without a variant is a
        prompt-free baseline: any variant)."""
        return model in self.onkobench_names(row.model) and row.variant in (None, variant)


def load_published(folder: Path = PUBLISHED_DIR) -> list[PublishedSet]:
    if not folder.exists():
        return []
    return [validated(PublishedSet, read_yaml(path), str(path)) for path in sorted(folder.glob("*.yaml"))]
