"""Aggregators: the parsed answers of a sample's several queries -> one Parsed answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.registry import Registry
from harness.scoring.parsers import Parsed

Aggregator = Callable[[Sequence[tuple[Any, Parsed]]], Parsed]
AggregatorFactory = Callable[..., Aggregator]
AGGREGATORS: Registry[AggregatorFactory] = Registry("aggregator")


def make_aggregator(name: str, options: dict[str, Any]) -> Aggregator:
    return AGGREGATORS.build(name, options)
