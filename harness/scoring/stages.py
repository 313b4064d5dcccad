"""CPU seconds spent per stage of scoring (reading, parsing, catalogue, records, encoding, writing), summed over chunks
and worker processes: what ``benchmarks/scoring_throughput.py`` prints as microseconds per sample by stage.

CPU time, not wall time: a stage's share stays readable on a machine busy with other work, and the seconds of
several workers add up to the work done (a stage waiting for workers costs the waiting process almost none)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class StageTimes:
    """CPU seconds per stage name, in the order the stages first ran; timed per chunk, so cheap to keep always on."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.process_time()
        try:
            yield
        finally:
            self.add(stage, time.process_time() - started)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def merge(self, other: dict[str, float]) -> None:
        """Add another process's seconds (a worker's chunk)."""
        for stage, seconds in other.items():
            self.add(stage, seconds)

    def per_sample_us(self, n_samples: int) -> dict[str, float]:
        return {stage: 1e6 * seconds / max(n_samples, 1) for stage, seconds in self.seconds.items()}
