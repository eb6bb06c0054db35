"""The OpenAI-compatible test server: routes, fixed latency, faults drawn per request."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web

from sagert.testing.openai_server.faults import FAULTS, fault_base
from sagert.testing.openai_server.replies import (
    GARBAGE,
    JSON_TYPE,
    MODELS,
    ReplyFn,
    completion_payload,
    error_body,
    error_response,
)
from sagert.testing.openai_server.stats import ServerStats

if TYPE_CHECKING:
    from sagert.testing.openai_server.thread import ServerThread

HOST = "127.0.0.1"


class OpenAITestServer:
    """An OpenAI-compatible server on 127.0.0.1 with fixed latency and injected faults."""

    def __init__(
        self,
        latency: float = 0.0,
        script: Iterable[str] = (),
        fault_rates: Mapping[str, float] | None = None,
        seed: int = 0,
        reply: ReplyFn | None = None,
        retry_after: float = 1.0,
        hang_seconds: float = 3600.0,
        *,
        port: int = 0,
    ) -> None:
        if latency < 0 or hang_seconds < 0 or retry_after < 0:
            raise ValueError("latency, retry_after and hang_seconds must be >= 0")
        self.latency = float(latency)
        self.script = list(script)
        for name in self.script:
            fault_base(name)
        self.fault_rates = dict(fault_rates or {})
        for name, rate in self.fault_rates.items():
            fault_base(name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate {name}={rate}: must be within [0, 1]")
        if sum(self.fault_rates.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates add up to more than 1")
        # Cumulative thresholds, in the order given, for one draw per request.
        self._thresholds: list[tuple[float, str]] = []
        total = 0.0
        for name, rate in self.fault_rates.items():
            if rate > 0:
                total += rate
                self._thresholds.append((total, name))
        self.seed = seed
        self._rng = random.Random(seed)
        self.reply = reply
        self.retry_after = float(retry_after)
        self.hang_seconds = float(hang_seconds)
        self.port = port
        self.stats = ServerStats()
        self._arrivals = 0
        self._ids = itertools.count(1)
        self._runner: web.ServerRunner | None = None
        self._closing: asyncio.Event | None = None
        self.base_url = ""

    # -- lifecycle -------------------------------------------------------------------------

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        # aiohttp's low-level server with a four-way switch: no router, app or middleware
        # machinery per request (the benchmark's server should cost little CPU).
        path = request.path
        if path == "/v1/chat/completions" or path == "/v1/completions":
            if request.method != "POST":
                return error_response(405, f"{request.method} not allowed on {path}")
            return await self._handle(request, chat=path == "/v1/chat/completions")
        if path == "/v1/models" or path == "/stats":
            if request.method != "GET":
                return error_response(405, f"{request.method} not allowed on {path}")
            self.stats.other_requests += 1
            data = MODELS if path == "/v1/models" else self.stats.as_dict()
            return web.Response(body=json.dumps(data).encode(), content_type=JSON_TYPE)
        return error_response(404, f"no route {path}")

    async def start(self) -> None:
        """Bind 127.0.0.1 (port 0 picks a free one) and start serving on the running loop."""
        if self._runner is not None:
            raise RuntimeError("server already started")
        self._closing = asyncio.Event()
        runner = web.ServerRunner(
            web.Server(self._dispatch, access_log=None),
            handle_signals=False,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, HOST, self.port, backlog=4096)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = self._bound_port(runner)
        self.port = port
        self.base_url = f"http://{HOST}:{port}/v1"

    @staticmethod
    def _bound_port(runner: web.ServerRunner) -> int:
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                return int(address[1])
        raise RuntimeError(f"could not find the bound port in {runner.addresses!r}")

    async def stop(self) -> None:
        """Stop serving; requests still hanging are answered at once so shutdown is quick."""
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def start_in_thread(self) -> ServerThread:
        """Serve from a thread with its own event loop (for sync code); returns once bound."""
        from sagert.testing.openai_server.thread import ServerThread

        return ServerThread(self)

    # -- faults ----------------------------------------------------------------------------

    def next_fault(self) -> str:
        """The fault for the next completion request: the script first, then the dice."""
        index = self._arrivals
        self._arrivals += 1
        if index < len(self.script):
            return self.script[index]
        if self._thresholds:
            draw = self._rng.random()
            for threshold, name in self._thresholds:
                if draw < threshold:
                    return name
        return "ok"

    async def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        closing = self._closing
        if closing is None or closing.is_set():
            return
        # Waiting on the closing event (not a bare sleep) lets stop() end a hang at once.
        if seconds >= 1.0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), seconds)
        else:
            await asyncio.sleep(seconds)

    # -- handlers --------------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest, *, chat: bool) -> web.Response:
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        if stats.in_flight > stats.max_in_flight:
            stats.max_in_flight = stats.in_flight
        fault = self.next_fault()  # drawn on arrival, so faults follow the arrival order
        base = fault if fault in FAULTS else fault_base(fault)
        outcomes = stats.outcomes
        try:
            raw = await request.read()
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
            except ValueError as exc:
                outcomes["bad-request"] = outcomes.get("bad-request", 0) + 1
                stats.responses += 1
                return web.Response(
                    status=400,
                    body=error_body(f"bad request body: {exc}", "invalid_request_error", 400),
                    content_type=JSON_TYPE,
                )
            outcomes[base] = outcomes.get(base, 0) + 1
            if base == "hang":
                await self._wait(self.hang_seconds)
            elif base == "slow":
                await self._wait(self.latency * 10)
            else:
                await self._wait(self.latency)
            response = self._respond(base, fault, body, chat)
            stats.responses += 1
            return response
        finally:
            stats.in_flight -= 1

    def _respond(self, base: str, fault: str, body: dict[str, Any], chat: bool) -> web.Response:
        if base == "429" or base == "429-no-retry-after":
            headers: dict[str, str] = {}
            if base == "429":
                _, sep, arg = fault.partition(":")
                headers["Retry-After"] = arg if sep else f"{self.retry_after:g}"
            return web.Response(
                status=429,
                body=error_body("rate limited (injected)", "rate_limit_error", 429),
                content_type=JSON_TYPE,
                headers=headers,
            )
        if base == "500":
            return web.Response(
                status=500,
                body=error_body("internal error (injected)", "server_error", 500),
                content_type=JSON_TYPE,
            )
        if base == "garbage":
            return web.Response(status=200, body=GARBAGE, content_type=JSON_TYPE)
        payload = completion_payload(body, chat=chat, reply=self.reply, response_id=next(self._ids))
        if base == "truncated":
            payload = payload[: len(payload) // 2]
        return web.Response(status=200, body=payload, content_type=JSON_TYPE)
