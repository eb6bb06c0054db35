"""Which endpoint of a fleet gets the next request: least outstanding requests, weighted.

An endpoint's score is (requests outstanding on it + 1) / weight; the lowest wins, and one
with free connections (under its AIMD limit) wins over one without. Outstanding counts the
requests waiting for one of its connections too, so a slow or rate-limited server (its limit
halved) gets fewer new requests by itself.

Health is a circuit breaker: `failures_to_eject` failures in a row (connection errors,
timeouts, 5xx, unreadable bodies) take an endpoint out for `cooldown` seconds; after that the
next request it is picked for is a probe (one at a time): an answer puts it back, a failure
takes it out again for twice as long (up to `max_cooldown`). A 429 says "busy", not "broken":
it lowers the endpoint's limit and never takes it out. Pure bookkeeping, no I/O: the clock is
injectable, so the tests drive it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sagert.models.spec import RoutingPolicy


@dataclass
class EndpointState:
    index: int
    url: str
    weight: float
    limit: int
    """Its current AIMD limit (kept up to date by the provider)."""
    outstanding: int = 0
    failures_in_row: int = 0
    down_until: float | None = None
    """None: in service; otherwise out until then (monotonic seconds), then probed."""
    probing: bool = False
    ejected_in_row: int = 0
    ejections: int = 0

    @property
    def in_service(self) -> bool:
        return self.down_until is None


class Router:
    def __init__(
        self,
        endpoints: Sequence[tuple[str, float, int]],
        policy: RoutingPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`endpoints`: (url, weight, connection limit) each."""
        self.policy = policy or RoutingPolicy()
        self.clock = clock
        self.endpoints = [
            EndpointState(i, url, weight, limit) for i, (url, weight, limit) in enumerate(endpoints)
        ]

    def pick(self, exclude: Collection[int] = ()) -> int | None:
        """The endpoint for the next request (counted outstanding), or None if none can take it."""
        now = self.clock()
        best: EndpointState | None = None
        best_key: tuple[bool, float] | None = None
        for ep in self.endpoints:
            if ep.index in exclude:
                continue
            if ep.down_until is not None and (ep.probing or now < ep.down_until):
                continue
            key = (ep.outstanding >= ep.limit, (ep.outstanding + 1) / ep.weight)
            if best_key is None or key < best_key:
                best, best_key = ep, key
        if best is None:
            return None
        best.outstanding += 1
        if best.down_until is not None:
            best.probing = True
        return best.index

    def release(self, index: int, healthy: bool | None) -> None:
        """A request on `index` ended: True answered, False failed, None says nothing of health
        (a 429, a request the server rejected, a cancelled call)."""
        ep = self.endpoints[index]
        ep.outstanding -= 1
        if healthy is True:
            ep.failures_in_row = 0
            ep.ejected_in_row = 0
            ep.down_until = None
            ep.probing = False
        elif healthy is False:
            ep.failures_in_row += 1
            tripped = ep.in_service and ep.failures_in_row >= self.policy.failures_to_eject
            if ep.probing or tripped:
                self._eject(ep)
        elif ep.probing:
            ep.probing = False  # the probe told us nothing: the next request probes again

    def _eject(self, ep: EndpointState) -> None:
        ep.ejected_in_row += 1
        ep.ejections += 1
        ep.probing = False
        cooldown = self.policy.cooldown * 2.0 ** (ep.ejected_in_row - 1)
        ep.down_until = self.clock() + min(cooldown, max(self.policy.max_cooldown, 0.0))

    def wait_time(self) -> float:
        """Seconds until some endpoint can be probed again (0 if one can take a request)."""
        now = self.clock()
        waits = [
            0.0 if ep.down_until is None else max(0.0, ep.down_until - now) for ep in self.endpoints
        ]
        return min(waits) if waits else 0.0

    def in_service(self) -> int:
        return sum(ep.in_service for ep in self.endpoints)
