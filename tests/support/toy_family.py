"""A toy benchmark family, registered from outside harness/ exactly as an out-of-tree family would be.

It is the worked example of docs/architecture.md ("How to add a family / a metric / a parser"): one
module that, when imported, adds a row schema, a parser, a scorer, two metrics and a runner to the generic
registries. Nothing in harness/ names it; it is loaded by naming the module in ``$ONKOBENCH_FAMILIES``
(here ``ONKOBENCH_FAMILIES=support.toy_family`` with tests/ on ``PYTHONPATH``), or by an
``onkobench.families`` entry point of an installed package. Its task lives in
tests/fixtures/toy_family/tasks/toy/ and tests/test_toy_family.py drives it through the CLI.

The toy protocol: read the TNM T category (T0-T4) of a tumour from a model's answer and compare it with
the gold stage; credit an answer at most one stage off separately ("near").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.config.models import ModelConfig
from harness.data import ROW_SCHEMAS
from harness.records import Request, Response
from harness.runner_registry import RUNNERS
from harness.runners.base import Runner
from harness.scoring.metrics import METRICS, Share, counts_failures, sample_share
from harness.scoring.parsers import EMPTY, MALFORMED, PARSERS, Parsed, Parser
from harness.scoring.scorers import SCORERS, Scorer
from harness.scoring.table import ScoreTable
from harness.stats import Estimate, bootstrap_interval

_T_CATEGORY = re.compile(r"(?<![A-Za-z])(?:[cpyr]{1,2})?T(\d)")
"""``T2``, ``pT3a``, ``ypT4b``: an optional c/p/y/r prefix, then T and the stage digit."""


@ROW_SCHEMAS.register("toy_tnm")
class ToyRow(BaseModel):
    """A row of the toy data set: ``id``, a diagnosis ``text`` and its gold T stage ``t`` (0-4)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str = Field(min_length=1)
    t: int = Field(ge=0, le=4)


@PARSERS.register("toy_t_stage")
def t_stage_parser(max_stage: int = 4) -> Parser:
    """Toy: the first TNM T category (T0-T4, optional c/p/y/r prefix) as a number; none or above max = malformed."""

    def parse(text: str) -> Parsed:
        if not text.strip():
            return Parsed(None, EMPTY, "empty output")
        match = _T_CATEGORY.search(text)
        if match is None:
            return Parsed(None, MALFORMED, "no T category")
        stage = int(match.group(1))
        if stage > max_stage:
            return Parsed(None, MALFORMED, f"T{stage} is above T{max_stage}")
        return Parsed(stage)

    return parse


@SCORERS.register("toy_stage_distance")
def stage_distance_scorer(tolerance: int = 1) -> Scorer:
    """Toy: correct = the parsed T stage equals the gold stage; near = at most ``tolerance`` stages off."""

    def score(parsed: Parsed, target: Any) -> dict[str, Any]:
        gold = int(target)
        if not parsed.ok:
            return {"correct": 0, "near": 0, "distance": None, "gold": gold}
        distance = abs(int(parsed.value) - gold)
        return {"correct": int(distance == 0), "near": int(distance <= tolerance), "distance": distance, "gold": gold}

    return score


@METRICS.register("toy_near_stage")
@sample_share()  # a share of samples: each sample is a unit of paired tests and published outcomes
def near_stage(table: ScoreTable) -> Share:
    """Toy: share of all samples whose T stage is within the scorer's tolerance (malformed = not near)."""
    return table.flag("near"), None


@METRICS.register("toy_mean_stage_distance")
@counts_failures
def mean_stage_distance(table: ScoreTable) -> Estimate:
    """Toy: mean number of stages off among well-formed answers (lower is better); percentile bootstrap interval."""
    distances = np.array([d for d in table.values("distance") if d is not None], dtype=float)
    return bootstrap_interval(distances, lambda stack: stack.mean(axis=-1))


class ToyRuleRunner(Runner):
    """Toy: answers with the T category written in the input text, lowered by ``options.offset`` stages."""

    uses_prompt = False  # reads the sample's fields, never the prompt: one variant is enough
    needs_model = False
    engine_packages = ("onkobench",)

    def __init__(self, config: ModelConfig, config_dir: Path) -> None:
        self.offset = int(config.options.get("offset", 0))

    def generate(self, requests: Sequence[Request]) -> Iterator[Response]:
        for request in requests:
            match = _T_CATEGORY.search(str(request.inputs.get("text", "")))
            text = f"T{max(0, int(match.group(1)) - self.offset)}" if match else "unknown"
            yield Response(key=request.key, text=text, finish_reason="stop", latency_s=0.0, n_batch=1)

    def describe(self) -> dict[str, Any]:
        return {"engine": "toy_rule", "offset": self.offset}

    def close(self) -> None:
        pass


RUNNERS.add("toy_rule", f"{__name__}:ToyRuleRunner")
