"""Which of several servers (``server.endpoints``: replicas of one model) gets the next attempt: round-robin over
those not failing, a server whose attempt failed left out for a while, as a load balancer's passive health
check does (nginx's ``max_fails``/``fail_timeout``), so a dead replica among live ones costs one failed attempt
per cool-down instead of every third request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_COOLDOWN_S = 60.0
"""The longest a failing server is left out between two probes (a restarted ``vllm serve`` is back within it)."""


class EndpointPool:
    """Round-robin over ``count`` servers with a cool-down per failing server; safe to share between threads.

    A server that fails an attempt is left out for ``cooldown_s``, doubling with each failure in a row (at most
    ``MAX_COOLDOWN_S``). When its time is up, one attempt probes it (the others keep skipping it meanwhile);
    an answer brings it back into the turn. Attempts sent before it was left out (in flight when it died) fail
    too, but count as that one failure, not as a failure each. While every server is left out, the one back
    soonest is used: one server alone behaves as if there were no pool.
    """

    def __init__(self, count: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if count < 1:
            raise ValueError("an endpoint pool needs at least one endpoint")
        self._count = count
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._out_until = [0.0] * count
        """Monotonic time until which a server gets no attempt (0: in the turn)."""
        self._failures = [0] * count
        """Failures in a row per server (attempts sent while it was already left out do not add)."""
        self._out_since = [0.0] * count
        """When the server was last left out."""
        self._next = 0
        self._lock = threading.Lock()

    def pick(self) -> tuple[int, float]:
        """The endpoint for the next attempt, and the time it was picked (for ``failed``)."""
        with self._lock:
            now = self._clock()
            for step in range(self._count):
                index = (self._next + step) % self._count
                if self._out_until[index] <= now:
                    self._next = index + 1
                    if self._failures[index]:  # a probe: the others skip it until it answers or fails again
                        self._out_until[index] = now + self._cooldown(index)
                    return index, now
            return min(range(self._count), key=self._out_until.__getitem__), now

    def failed(self, index: int, picked_at: float) -> None:
        """An attempt on ``index`` picked at ``picked_at`` failed (no usable reply): leave it out for its cool-down,
        a longer one if the attempt was sent after it was left out (a probe, or no other endpoint was up)."""
        with self._lock:
            if self._failures[index] and picked_at < self._out_since[index]:
                return  # sent before the failure that left it out: the same failure, already counted
            now = self._clock()
            self._failures[index] += 1
            self._out_since[index] = now
            self._out_until[index] = now + self._cooldown(index)

    def answered(self, index: int) -> None:
        """``index`` replied: back in the turn."""
        with self._lock:
            self._failures[index] = 0
            self._out_until[index] = 0.0

    def any_up(self) -> bool:
        """Whether some endpoint may take an attempt now (else the caller backs off before the next one)."""
        with self._lock:
            now = self._clock()
            return any(until <= now for until in self._out_until)

    def _cooldown(self, index: int) -> float:
        return min(self._cooldown_s * 2 ** max(self._failures[index] - 1, 0), MAX_COOLDOWN_S)
