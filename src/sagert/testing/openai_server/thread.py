"""Running the test server from sync code: its own event loop in a daemon thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Any, Self

from sagert.testing.openai_server.server import OpenAITestServer
from sagert.testing.openai_server.stats import ServerStats


class ServerThread:
    """Runs an :class:`OpenAITestServer` on its own loop in a daemon thread.

    Starts on construction and returns once the port is bound; ``stop()`` (or leaving the
    ``with`` block) shuts the server down and joins the thread.
    """

    def __init__(self, server: OpenAITestServer | None = None, **kwargs: Any) -> None:
        if server is not None and kwargs:
            raise TypeError("pass a server or its settings, not both")
        self.server = server if server is not None else OpenAITestServer(**kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="openai-test-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise RuntimeError(f"test server failed to start: {self._error}") from self._error

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def stats(self) -> ServerStats:
        return self.server.stats

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            await self.server.stop()

    def stop(self) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stopped.set)
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
