"""Gather concurrent calls into batches: one encoder pass for many records.

Records are judged concurrently (many `score` coroutines in flight); encoding them one text at
a time wastes most of a forward pass. `Batcher.submit` queues an item and awaits its result;
one drain task per burst takes up to `max_batch` queued items, runs the blocking batch
function in a worker thread (the event loop keeps running), and hands each caller its result.
While a batch runs, new items queue up for the next one, so batches grow with the load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """`run(items) -> results` (same length, same order), called with batches of submissions.

    Used from one event loop at a time (a later `asyncio.run` is fine: the drain task is per
    loop). An exception in `run` is raised to every caller of that batch, not to others.
    """

    def __init__(self, run: Callable[[Sequence[T]], Sequence[R]], max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run = run
        self.max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.batches = 0
        """Batches run so far; with `largest`, for tests and benchmarks."""
        self.largest = 0

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        drainer = self._drainer
        if drainer is None or drainer.done() or drainer.get_loop() is not loop:
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0)  # let the rest of a gather() queue up first
        while self._pending:
            taken, self._pending = (
                self._pending[: self.max_batch],
                self._pending[self.max_batch :],
            )
            # Callers that were cancelled, or belong to a loop that has gone, need no answer.
            batch = [(i, f) for i, f in taken if not f.done() and f.get_loop() is loop]
            if not batch:
                continue
            self.batches += 1
            self.largest = max(self.largest, len(batch))
            try:
                results = await asyncio.to_thread(self._run, [item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"batch of {len(batch)} gave {len(results)} results")
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
