"""Scoring: stored raw outputs + task -> ScoredSample per sample -> metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.scoring.metrics import METRICS, ScoredSample, compute_metrics
from harness.scoring.parsers import ERROR, MISSING, PARSERS, Parsed, make_parser
from harness.scoring.scorers import SCORERS, make_scorer
from harness.tasks import Sample, Task

__all__ = ["METRICS", "PARSERS", "SCORERS", "ModelOutput", "ScoredSample", "compute_metrics", "score_samples"]


@dataclass(frozen=True, slots=True)
class ModelOutput:
    """The part of a stored response that scoring needs."""

    text: str
    key: str | None = None
    error: str | None = None


def score_samples(task: Task, samples: Sequence[Sample], outputs: Mapping[str, ModelOutput]) -> list[ScoredSample]:
    """Parse and score every sample; a sample with no output is scored as missing (wrong)."""
    parse = make_parser(task.parser.name, task.parser.options)
    score = make_scorer(task.scorer.name, task.scorer.options)
    scored = []
    for sample in samples:
        output = outputs.get(sample.id)
        if output is None:
            parsed = Parsed(None, MISSING, "no output for this sample")
        elif output.error is not None:
            parsed = Parsed(None, ERROR, output.error)
        else:
            parsed = parse(output.text)
        scored.append(
            ScoredSample(
                sample_id=sample.id,
                key=output.key if output else None,
                status=parsed.status,
                reason=parsed.reason,
                answer=parsed.value,
                target=sample.target,
                values=score(parsed, sample.target),
            )
        )
    return scored
