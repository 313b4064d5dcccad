"""Scoring: stored raw outputs + task -> ScoredSample per sample (streamed) -> ScoreTable -> metrics."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
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
    "SampleScorer", "make_sample_scorer", "score_stream",
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


class SampleScorer:
    """The task's (and variant's) parser, aggregator and scorer, built once: (sample, its query outputs) -> score.

    ``parsed`` and ``values`` are the two halves of a call, so that a chunk of samples can be parsed and then scored
    stage by stage (``harness.scoring.chunks``); calling the scorer does both for one sample.
    """

    def __init__(self, task: Task, variant: Variant | None = None) -> None:
        parser_spec = variant.parser if variant is not None and variant.parser is not None else task.parser
        self.parse = make_parser(parser_spec.name, parser_spec.options)
        self.aggregate = (
            make_aggregator(variant.aggregate.name, variant.aggregate.options)
            if variant is not None and variant.aggregate is not None
            else None
        )
        self.values = make_scorer(task.scorer.name, task.scorer.options)
        """(Parsed, target) -> the per-sample value columns."""

    def parsed(self, answers: Sequence[ModelOutput]) -> Parsed:
        """A sample's answer from its query outputs: missing, the runner's error, a cut reasoning, or the parser's."""
        if not answers:
            return Parsed(None, MISSING, "no output for this sample")
        error = next((o.error for o in answers if o.error is not None), None)
        if error is not None:
            return Parsed(None, ERROR, error)
        if any(o.reasoning_truncated for o in answers):
            return Parsed(None, NO_THINK_END, "token budget ran out inside the reasoning")
        if self.aggregate is not None:
            return self.aggregate([(o.item, self.parse(o.text)) for o in answers])
        return self.parse(answers[0].text)

    def parsed_column(self, texts: list[str]) -> list[Parsed]:
        """The parser's answer for each text (every sample's single output, none failed): by the parser's own column
        form where it has one (``parse.many``: a short answer parsed once per distinct text), else one by one."""
        many = getattr(self.parse, "many", None)
        return many(texts) if many is not None else list(map(self.parse, texts))

    def values_column(self, parsed: list[Parsed], targets: list[Any]) -> list[dict[str, Any]]:
        """The scorer's values for each (answer, target): by its column form where it has one (``score.many``: each
        distinct code looked up once), else one by one. The dicts are read, never changed: the column form may share
        one dict among samples with the same values."""
        many = getattr(self.values, "many", None)
        return many(parsed, targets) if many is not None else list(map(self.values, parsed, targets))

    def __call__(self, sample: Sample, answers: Sequence[ModelOutput]) -> ScoredSample:
        parsed = self.parsed(answers)
        return ScoredSample(
            sample_id=sample.id,
            key=answers[0].key if answers else None,
            status=parsed.status,
            reason=parsed.reason,
            answer=parsed.value,
            target=sample.target,
            values=self.values(parsed, sample.target),
            group=sample.group,
            extra=sample.extra,
        )


def make_sample_scorer(task: Task, variant: Variant | None = None) -> SampleScorer:
    """The task's (and variant's) parser, aggregator and scorer, built once: (sample, its query outputs) -> score."""
    return SampleScorer(task, variant)


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
