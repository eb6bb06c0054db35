"""Concurrent calls gathered into batches for an in-process engine (transformers, vLLM).

Such engines take a list of prompts per call and are fastest with many at once, while sagert's
stages make one call per record from many coroutines. A `BatchWorker` owns one thread: calls
queue requests, the thread waits up to `batch_wait_ms` for more (up to `max_batch_size`),
picks a batch with the provider's `select`, runs it with the provider's `run` and hands each
answer back to the caller's event loop. One failed batch fails its calls, not the worker.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sagert.models.provider import ProviderError
from sagert.models.types import GenerateConfig, ModelOutput


@dataclass(eq=False)
class BatchRequest:
    text: str
    prefill: str
    config: GenerateConfig
    deliver: Callable[[ModelOutput | BaseException], None]
    ids: list[int] | None = None  # set by the worker thread (when the engine needs lengths)

    @property
    def length(self) -> int:
        return len(self.ids or ())

    def batch_key(self) -> tuple[Any, ...]:
        c = self.config
        return (c.temperature or 0.0, c.top_p, c.max_tokens, c.stop)


Batch = list[BatchRequest]


def take_all(waiting: Batch) -> Batch:
    """Every waiting request in one batch: for engines with per-prompt sampling settings."""
    return list(waiting)


def select_batch(waiting: Batch, size: int, max_tokens: int) -> Batch:
    """The oldest request and those nearest its length with its settings, within both limits.

    Prompts are left-padded to the longest in the batch and prefill costs the padded length
    (CPU time grows with it): mixing a 15-token prompt with a 400-token one wastes most of it.
    """
    anchor = waiting[0]
    key = anchor.batch_key()
    nearest = sorted(
        (r for r in waiting[1:] if r.batch_key() == key),
        key=lambda r: abs(r.length - anchor.length),
    )
    batch, longest = [anchor], anchor.length
    for r in nearest:
        if len(batch) >= size:
            break
        if max(longest, r.length) * (len(batch) + 1) > max_tokens:
            continue
        batch.append(r)
        longest = max(longest, r.length)
    return batch


class BatchWorker:
    """One thread running an engine's batches; `submit` is called from any event loop."""

    def __init__(
        self,
        name: str,
        *,
        max_batch_size: int,
        batch_wait_ms: float,
        run: Callable[[Batch], list[ModelOutput]],
        select: Callable[[Batch], Batch] = take_all,
        prepare: Callable[[Batch], None] | None = None,
    ) -> None:
        self.name = name
        self.max_batch_size = max_batch_size
        self.batch_wait_ms = batch_wait_ms
        self._run, self._select, self._prepare = run, select, prepare
        self._queue: queue.Queue[BatchRequest | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def submit(self, text: str, prefill: str, config: GenerateConfig) -> ModelOutput:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ModelOutput] = loop.create_future()

        def deliver(result: ModelOutput | BaseException) -> None:
            def settle() -> None:
                if future.done():  # the caller timed out or was cancelled
                    return
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

            loop.call_soon_threadsafe(settle)

        self._start()
        self._queue.put(BatchRequest(text, prefill, config, deliver))
        return await future

    def close(self) -> None:
        """The thread fails what still waits and stops; a later `submit` starts a new one."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()

    def _work(self) -> None:
        waiting: Batch = []
        while True:
            if not waiting:
                first = self._queue.get()
                if first is None:
                    return
                waiting.append(first)
            if not self._gather(waiting):
                return
            if self._prepare is not None:
                self._prepare(waiting)
            batch = self._select(waiting)[: self.max_batch_size]
            waiting = [r for r in waiting if r not in batch]
            self._run_batch(batch)

    def _gather(self, waiting: Batch) -> bool:
        """Add queued requests until the batch is full or the wait is over; False: shut down."""
        deadline = time.monotonic() + self.batch_wait_ms / 1000
        while len(waiting) < self.max_batch_size:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                for r in waiting:
                    r.deliver(ProviderError(f"{self.name} closed", retryable=True))
                return False
            waiting.append(item)
        return True

    def _run_batch(self, batch: Batch) -> None:
        try:
            outputs = self._run(batch)
        except Exception as exc:  # one failed batch must not stop the worker
            error = ProviderError(f"{self.name}: {exc}", retryable=False, raw=repr(exc))
            for r in batch:
                r.deliver(error)
            return
        for r, out in zip(batch, outputs, strict=True):
            r.deliver(out)
