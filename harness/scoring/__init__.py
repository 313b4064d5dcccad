"""Scoring: stored raw outputs + task -> ScoredSample per sample (streamed) -> ScoreTable -> metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.scoring import icd as _icd  # noqa: F401  (registers the catalogue-aware parsers and scorers)
from harness.scoring.aggregators import AGGREGATORS, make_aggregator
from harness.scoring.metrics import METRICS, ScoredSample, compute_metrics
from harness.scoring.parsers import ERROR, MISSING, NO_THINK_END, PARSERS, Parsed, make_parser
from harness.scoring.scorers import SCORERS, make_scorer
from harness.scoring.table import ScoreTable
from harness.config.tasks import Task, Variant
from harness.data import Sample

__all__ = [
    "AGGREGATORS", "METRICS", "PARSERS", "SCORERS", "ModelOutput", "ScoreTable", "ScoredSample", "compute_metrics", "score_samples",
    "make_sample_scorer", "score_stream",
]


@dataclass(frozen=True, slots=True)
class ModelOutput:
    """The part of a stored response that scoring needs."""

    text: str
    key: str | None = None
    error: str | None = None
    item: Any = None
    """The query's item (e.g. the candidate date a verify question asked about)."""
    reasoning_truncated: bool = False


SampleScorer = Callable[[Sample, Sequence[ModelOutput]], ScoredSample]


def make_sample_scorer(task: Task, variant: Variant | None = None) -> SampleScorer:
    """The task's (and variant's) parser, aggregator and scorer, built once: (sample, its query outputs) -> score."""
    parser_spec = variant.parser if variant is not None and variant.parser is not None else task.parser
    parse = make_parser(parser_spec.name, parser_spec.options)
    aggregate = (
        make_aggregator(variant.aggregate.name, variant.aggregate.options)
        if variant is not None and variant.aggregate is not None
        else None
    )
    score = make_scorer(task.scorer.name, task.scorer.options)

    def score_sample(sample: Sample, answers: Sequence[ModelOutput]) -> ScoredSample:
        error = next((o.error for o in answers if o.error is not None), None)
        if not answers:
            parsed = Parsed(None, MISSING, "no output for this sample")
        elif error is not None:
            parsed = Parsed(None, ERROR, error)
        elif any(o.reasoning_truncated for o in answers):
            parsed = Parsed(None, NO_THINK_END, "token budget ran out inside the reasoning")
        elif aggregate is not None:
            parsed = aggregate([(o.item, parse(o.text)) for o in answers])
        else:
            parsed = parse(answers[0].text)
        return ScoredSample(
            sample_id=sample.id,
            key=answers[0].key if answers else None,
            status=parsed.status,
            reason=parsed.reason,
            answer=parsed.value,
            target=sample.target,
            values=score(parsed, sample.target),
            group=sample.group,
            extra=sample.extra,
        )

    return score_sample


def score_stream(
    task: Task, items: Iterable[tuple[Sample, Sequence[ModelOutput]]], variant: Variant | None = None
) -> Iterator[ScoredSample]:
    """Parse and score each (sample, its query outputs) as it comes; a sample with no output is scored as missing."""
    score_sample = make_sample_scorer(task, variant)
    for sample, answers in items:
        yield score_sample(sample, answers)


def score_samples(
    task: Task,
    samples: Sequence[Sample],
    outputs: Mapping[str, Sequence[ModelOutput]],
    variant: Variant | None = None,
) -> list[ScoredSample]:
    """Every sample scored from the outputs held in memory (small sets and tests; runs use ``score_stream``)."""
    return list(score_stream(task, ((sample, outputs.get(sample.id) or []) for sample in samples), variant))
