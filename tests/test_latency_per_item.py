"""Seconds per item, the latency the leaderboard plots against accuracy: each item's share of the wall time of
the engine call that answered it, for sequential, batch and continuous-batching runners alike."""

from __future__ import annotations

import pytest

from harness.records import Response
from harness.scoring.run import ResponseStats


def per_item(rows: list[Response]) -> float:
    stats = ResponseStats()
    for row in rows:
        stats.add(row.to_dict())
    return stats.latency()["seconds_per_item"]


def test_sequential_requests_cost_their_own_latency() -> None:
    assert per_item([Response("a", "x", latency_s=0.2, n_batch=1), Response("b", "x", latency_s=0.4, n_batch=1)]) == pytest.approx(0.3, abs=1e-6)


def test_a_batch_whose_latency_is_the_batch_wall_time_is_shared() -> None:
    """The transformers runner: every request of a batch of 4 reports the batch's 2 s."""
    assert per_item([Response(str(i), "x", latency_s=2.0, n_batch=4) for i in range(4)]) == pytest.approx(0.5, abs=1e-6)


def test_continuous_batching_shares_the_engine_call_not_the_overlapping_latencies() -> None:
    """vLLM: 300 requests in one 60 s call, each with its own latency (up to 60 s); the item costs 0.2 s, not the
    mean latency of 30 s."""
    rows = [{**Response(str(i), "x", latency_s=60.0 * (i + 1) / 300, n_batch=300).to_dict(), "batch_s": 60.5}
            for i in range(300)]  # as stored before share_s: the call's wall time on each row
    stats = ResponseStats()
    for row in rows:
        stats.add(row)
    assert stats.latency()["seconds_per_item"] == pytest.approx(60.5 / 300, abs=1e-6)
    assert ResponseStats().latency()["seconds_per_item"] is None


def test_streamed_answers_count_their_share_of_the_call() -> None:
    """vLLM answers handed on as they finish: each row carries the time since the call's previous answer."""
    rows = [Response(str(i), "x", latency_s=60.0 * (i + 1) / 300, n_batch=300, share_s=0.2) for i in range(300)]
    assert per_item(rows) == pytest.approx(0.2, abs=1e-6)


def test_rows_stored_without_a_batch_count_one_engine_call() -> None:
    """vLLM rows stored before ``batch_s``: the run's requests went to the engine together, so the call lasted as
    long as the slowest; the mean latency (what was published before) overstated the cost 150-fold here."""
    rows = [Response(str(i), "x", latency_s=60.0 * (i + 1) / 300) for i in range(300)]
    assert per_item(rows) == pytest.approx(60.0 / 300, abs=1e-6)
    mixed = rows + [Response("lookup", "x", latency_s=0.5, n_batch=1)]
    assert per_item(mixed) == pytest.approx((60.0 + 0.5) / 301, abs=1e-6)
