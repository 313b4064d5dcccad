"""The choice of replica for each attempt: round-robin, a failing endpoint left out for a doubling cool-down,
one probe when it is up, back in the turn once it answers (a fake clock: no sleeping)."""

from __future__ import annotations

import pytest

from harness.runners.endpoints import MAX_COOLDOWN_S, EndpointPool


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def picks(pool: EndpointPool, n: int) -> list[int]:
    return [pool.pick() for _ in range(n)]


def test_round_robin_while_all_answer() -> None:
    assert picks(EndpointPool(3, 1.0, Clock()), 7) == [0, 1, 2, 0, 1, 2, 0]


def test_a_failing_endpoint_is_left_out_probed_once_then_back_when_it_answers() -> None:
    clock = Clock()
    pool = EndpointPool(3, 1.0, clock)
    pool.failed(1)
    assert picks(pool, 4) == [0, 2, 0, 2]
    clock.now += 1.0  # its cool-down is over: the next turn probes it, once
    assert picks(pool, 5) == [0, 1, 2, 0, 2]
    pool.answered(1)
    assert picks(pool, 3) == [0, 1, 2]


def test_failures_in_a_row_double_the_cooldown_up_to_the_cap() -> None:
    clock = Clock()
    pool = EndpointPool(2, 1.0, clock)
    for failures, cooldown in enumerate([1.0, 2.0, 4.0, 8.0], start=1):
        pool.failed(1)
        clock.now += cooldown - 0.01
        assert 1 not in picks(pool, 4), f"after {failures} failures"
        clock.now += 0.01
        assert 1 in picks(pool, 2)
    for _ in range(20):
        pool.failed(1)
    clock.now += MAX_COOLDOWN_S
    assert 1 in picks(pool, 2)


def test_when_all_are_out_the_one_back_soonest_is_used() -> None:
    clock = Clock()
    pool = EndpointPool(2, 1.0, clock)
    pool.failed(0)
    pool.failed(0)  # out for 2 s
    pool.failed(1)  # out for 1 s
    assert not pool.any_up()
    assert pool.pick() == 1
    single = EndpointPool(1, 1.0, clock)
    single.failed(0)
    assert [single.pick(), single.pick()] == [0, 0]  # one server alone: used as if there were no pool


def test_an_empty_pool_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one endpoint"):
        EndpointPool(0, 1.0)
