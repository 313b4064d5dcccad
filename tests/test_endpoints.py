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
    return [pool.pick()[0] for _ in range(n)]


def test_round_robin_while_all_answer() -> None:
    assert picks(EndpointPool(3, 1.0, Clock()), 7) == [0, 1, 2, 0, 1, 2, 0]


def test_a_failing_endpoint_is_left_out_probed_once_then_back_when_it_answers() -> None:
    clock = Clock()
    pool = EndpointPool(3, 1.0, clock)
    pool.failed(1, clock.now)
    assert picks(pool, 4) == [0, 2, 0, 2]
    clock.now += 1.0  # its cool-down is over: the next turn probes it, once
    assert picks(pool, 5) == [0, 1, 2, 0, 2]
    pool.answered(1)
    assert picks(pool, 3) == [0, 1, 2]


def test_failures_in_a_row_double_the_cooldown_up_to_the_cap() -> None:
    clock = Clock()
    pool = EndpointPool(2, 1.0, clock)
    for failures, cooldown in enumerate([1.0, 2.0, 4.0, 8.0], start=1):
        pool.failed(1, clock.now)  # each a probe's failure, sent after the last one left it out
        clock.now += cooldown - 0.01
        assert 1 not in picks(pool, 4), f"after {failures} failures"
        clock.now += 0.01
        assert 1 in picks(pool, 2)
    for _ in range(20):
        pool.failed(1, clock.now)
        clock.now += 0.001
    clock.now += MAX_COOLDOWN_S
    assert 1 in picks(pool, 2)


def test_attempts_in_flight_when_it_died_count_as_one_failure() -> None:
    """Eight requests sent to a replica before it died fail one after another: it is left out for the first
    cool-down (1 s), not for 2**7 s, so a quickly restarted replica is probed again within a second."""
    clock = Clock()
    pool = EndpointPool(2, 1.0, clock)
    sent = [pool.pick() for _ in range(16)]
    clock.now += 0.5
    for index, picked_at in sent:
        if index == 1:
            pool.failed(index, picked_at)
            clock.now += 0.01
    clock.now += 1.0
    assert 1 in picks(pool, 2)


def test_when_all_are_out_the_one_back_soonest_is_used() -> None:
    clock = Clock()
    pool = EndpointPool(2, 1.0, clock)
    pool.failed(0, clock.now)
    pool.failed(0, clock.now)  # out for 2 s
    pool.failed(1, clock.now)  # out for 1 s
    assert not pool.any_up()
    assert picks(pool, 1) == [1]
    single = EndpointPool(1, 1.0, clock)
    single.failed(0, clock.now)
    assert not single.any_up()  # the caller backs off before its next attempt (OpenAIRunner.complete)
    assert picks(single, 2) == [0, 0]  # and then tries the one server again


def test_an_empty_pool_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one endpoint"):
        EndpointPool(0, 1.0)
