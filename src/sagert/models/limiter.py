"""AIMD concurrency: a rate-limited API is not hammered, and the limit recovers when it eases.

Like TCP congestion control: a 429 halves the limit (at most once per `cooldown` seconds, so
one burst of 429s from requests already in flight counts once); each `limit` successes in a
row raise it by one, up to the configured maximum. An asyncio.Semaphore cannot shrink, so
this keeps its own count and a FIFO of waiters.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class AdaptiveLimiter:
    def __init__(self, maximum: int, *, minimum: int = 1, cooldown: float = 1.0) -> None:
        self.maximum = maximum
        self.minimum = max(1, min(minimum, maximum))
        self.limit = maximum
        self.cooldown = cooldown
        self.in_use = 0
        self.decreases = 0
        self.lowest = maximum
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._successes = 0
        self._last_decrease = -float("inf")

    async def acquire(self) -> None:
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # we were handed a slot while being cancelled: give it back
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.in_use -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_use < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_use += 1
                waiter.set_result(None)

    def on_success(self) -> None:
        if self.limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self._successes = 0
            self.limit += 1
            self._wake()

    def on_rate_limited(self) -> None:
        now = time.monotonic()
        self._successes = 0
        if now - self._last_decrease < self.cooldown:
            return
        self._last_decrease = now
        self.limit = max(self.minimum, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        self.decreases += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()
