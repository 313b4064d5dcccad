"""Scorers: (parsed answer, gold target) -> per-sample values. Registered by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.registry import Registry
from harness.scoring.parsers import Parsed

Scorer = Callable[[Parsed, Any], dict[str, Any]]
ScorerFactory = Callable[..., Scorer]
SCORERS: Registry[ScorerFactory] = Registry("scorer")


@SCORERS.register("binary_presence")
def binary_presence_scorer() -> Scorer:
    """Prediction = the parsed list is non-empty; gold is a boolean. Values: correct, predicted, gold."""

    def score(parsed: Parsed, target: Any) -> dict[str, Any]:
        gold = bool(target)
        if not parsed.ok:
            return {"correct": 0, "predicted": None, "gold": gold}
        predicted = bool(parsed.value)
        return {"correct": int(predicted == gold), "predicted": predicted, "gold": gold}

    return score


def _normalise_code(code: Any) -> str:
    return str(code).strip().upper()


@SCORERS.register("code_match")
def code_match_scorer(partial_chars: int = 3) -> Scorer:
    """Exact code equality (``correct``) and equality of the first ``partial_chars`` characters (``partial``)."""

    def score(parsed: Parsed, target: Any) -> dict[str, Any]:
        gold = _normalise_code(target)
        if not parsed.ok:
            return {"correct": 0, "partial": 0, "gold": gold}
        answer = _normalise_code(parsed.value)
        return {
            "correct": int(answer == gold),
            "partial": int(answer[:partial_chars] == gold[:partial_chars]),
            "gold": gold,
        }

    return score


def make_scorer(name: str, options: dict[str, Any]) -> Scorer:
    return SCORERS.build(name, options)


@SCORERS.register("exact_match")
def exact_match_scorer() -> Scorer:
    """Correct when the parsed answer equals the gold string exactly (e.g. normalised dates)."""

    def score(parsed: Parsed, target: Any) -> dict[str, Any]:
        if not parsed.ok:
            return {"correct": 0, "na": 1, "gold": target}
        return {"correct": int(str(parsed.value) == str(target)), "na": 0, "gold": target}

    return score


@SCORERS.register("yes_no_match")
def yes_no_match_scorer() -> Scorer:
    """Parsed Ja/Nein against a gold "Ja"/"Nein" (or boolean); values: correct, predicted, gold."""

    def score(parsed: Parsed, target: Any) -> dict[str, Any]:
        gold = target if isinstance(target, bool) else str(target).strip().casefold() in ("ja", "yes", "true", "1")
        if not parsed.ok:
            return {"correct": 0, "predicted": None, "gold": gold}
        return {"correct": int(bool(parsed.value) == gold), "predicted": bool(parsed.value), "gold": gold}

    return score
