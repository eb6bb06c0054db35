"""A small OpenAI-compatible HTTP server for tests and benchmarks (real HTTP on 127.0.0.1).

Replies are deterministic (``"echo: " + last user message`` unless a ``reply`` function is
given), every reply waits a fixed ``latency`` to emulate a model server, and faults can be
injected two ways, combinable:

* ``script``: fault names applied to completion requests in arrival order (request 1 gets
  ``script[0]``, ...); once it is used up requests are answered normally, unless
* ``fault_rates``: ``{fault name: probability}`` drawn per request from
  ``random.Random(seed)`` once the script is exhausted (one draw per request, so a run with
  the same seed and the same arrival order gets the same faults).

Fault names:

``ok``                   a normal answer.
``429``                  status 429 with ``Retry-After: <retry_after>``; ``429:0.05`` sets the
                         header to ``0.05``.
``429-no-retry-after``   status 429 without the header.
``500``                  status 500.
``garbage``              status 200, a body that is not JSON.
``truncated``            status 200, a valid JSON answer cut in half.
``hang``                 waits ``hang_seconds`` (longer than any client timeout), then answers.
``slow``                 answers after ``latency * 10`` instead of ``latency``.

Every fault but ``hang`` and ``slow`` is answered after ``latency`` too. Counters
(:class:`ServerStats`) count completion requests (``/v1/chat/completions`` and
``/v1/completions``) and one outcome per request, under the fault's name (``429:0.05`` counts
as ``429``); a body that is not a JSON object is answered 400 and counted as ``bad-request``
(it still uses up its turn in the script or its draw).

Use it inside a running loop (``async with OpenAITestServer(...) as server``), in a thread of
its own for sync code (``with OpenAITestServer(...).start_in_thread() as server``), or as a
separate process::

    python -m sagert.testing.openai_server --port 0 --latency 0.2 --fault-rate 429=0.2 --seed 1

which prints one line, ``listening on http://127.0.0.1:PORT/v1``, and serves until SIGTERM or
SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import itertools
import json
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

__all__ = ["FAULTS", "OpenAITestServer", "ServerStats", "ServerThread", "main"]

HOST = "127.0.0.1"
FAULTS = frozenset(
    {"ok", "429", "429-no-retry-after", "500", "garbage", "truncated", "hang", "slow"}
)

ReplyFn = Callable[[dict[str, Any]], str]

_JSON = "application/json"
_GARBAGE = b"<html><body>502 upstream hiccup, this is not JSON {"


def _fault_base(name: str) -> str:
    """The counted name of a fault (``429:0.05`` -> ``429``); raises ValueError if unknown."""
    base, sep, arg = name.partition(":")
    if base not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
    if sep:
        if base != "429":
            raise ValueError(f"fault {name!r}: only 429 takes an argument (429:SECONDS)")
        float(arg)  # raises ValueError on a bad number
    return base


@dataclass
class ServerStats:
    """Exact counters of a server's completion requests (mutated only on the server's loop)."""

    requests: int = 0
    """Completion requests received."""
    responses: int = 0
    """Completion requests answered (an abandoned ``hang`` is not answered)."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """One count per request, under the fault's name: ok, 429, 500, garbage, ..., bad-request."""
    in_flight: int = 0
    max_in_flight: int = 0
    """Most completion requests being handled at once."""
    other_requests: int = 0
    """Requests to /v1/models and /stats."""

    def count(self, name: str) -> int:
        return self.outcomes.get(name, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "responses": self.responses,
            "outcomes": dict(self.outcomes),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "other_requests": self.other_requests,
        }


def _text_of(content: Any) -> str:
    """A message's content as text: a string, or the text parts of a multi-part content."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def default_chat_reply(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return "echo: " + _text_of(message.get("content"))
    return "echo: "


def default_completion_reply(body: dict[str, Any]) -> str:
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        prompt = prompt[0] if prompt else ""
    return "echo: " + _text_of(prompt)


def _error_body(message: str, kind: str, code: int) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()


def _error(status: int, message: str) -> web.Response:
    kind = "not_found_error" if status == 404 else "invalid_request_error"
    return web.Response(status=status, body=_error_body(message, kind, status), content_type=_JSON)


_MODELS = {
    "object": "list",
    "data": [{"id": "test-model", "object": "model", "created": 0, "owned_by": "sagert"}],
}

# Answers are formatted from templates, with json.dumps only on the strings that vary: the same
# JSON as json.dumps of the whole object, at a fraction of the cost.
_CHAT_TEMPLATE = (
    '{"id":"chatcmpl-%d","object":"chat.completion","created":%d,"model":%s,'
    '"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],'
    '"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}'
)
_COMPLETION_TEMPLATE = (
    '{"id":"cmpl-%d","object":"text_completion","created":%d,"model":%s,'
    '"choices":[{"index":0,"text":%s,"finish_reason":"stop","logprobs":null}],'
    '"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}'
)


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
            _fault_base(name)
        self.fault_rates = dict(fault_rates or {})
        for name, rate in self.fault_rates.items():
            _fault_base(name)
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
                return _error(405, f"{request.method} not allowed on {path}")
            return await self._handle(request, chat=path == "/v1/chat/completions")
        if path == "/v1/models" or path == "/stats":
            if request.method != "GET":
                return _error(405, f"{request.method} not allowed on {path}")
            self.stats.other_requests += 1
            data = _MODELS if path == "/v1/models" else self.stats.as_dict()
            return web.Response(body=json.dumps(data).encode(), content_type=_JSON)
        return _error(404, f"no route {path}")

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
        base = fault if fault in FAULTS else _fault_base(fault)
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
                    body=_error_body(f"bad request body: {exc}", "invalid_request_error", 400),
                    content_type=_JSON,
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
                body=_error_body("rate limited (injected)", "rate_limit_error", 429),
                content_type=_JSON,
                headers=headers,
            )
        if base == "500":
            return web.Response(
                status=500,
                body=_error_body("internal error (injected)", "server_error", 500),
                content_type=_JSON,
            )
        if base == "garbage":
            return web.Response(status=200, body=_GARBAGE, content_type=_JSON)
        payload = self._completion_payload(body, chat)
        if base == "truncated":
            payload = payload[: len(payload) // 2]
        return web.Response(status=200, body=payload, content_type=_JSON)

    def _completion_payload(self, body: dict[str, Any], chat: bool) -> bytes:
        reply = self.reply
        if chat:
            text = reply(body) if reply is not None else default_chat_reply(body)
            messages = body.get("messages") or []
            prompt_tokens = sum(
                len(_text_of(m.get("content")).split()) for m in messages if isinstance(m, dict)
            )
            template = _CHAT_TEMPLATE
        else:
            text = reply(body) if reply is not None else default_completion_reply(body)
            prompt = body.get("prompt", "")
            if isinstance(prompt, list):
                prompt = " ".join(_text_of(p) for p in prompt)
            prompt_tokens = len(_text_of(prompt).split())
            template = _COMPLETION_TEMPLATE
        completion_tokens = len(text.split())
        return (
            template
            % (
                next(self._ids),
                int(time.time()),
                json.dumps(str(body.get("model") or "test-model")),
                json.dumps(text),
                prompt_tokens,
                completion_tokens,
                prompt_tokens + completion_tokens,
            )
        ).encode()


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


# -- CLI -------------------------------------------------------------------------------------


def _parse_rate(text: str) -> tuple[str, float]:
    name, sep, value = text.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=RATE, e.g. 429=0.2")
    try:
        _fault_base(name)
        return name, float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sagert.testing.openai_server",
        description="An OpenAI-compatible test server on 127.0.0.1 with latency and faults.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per reply")
    parser.add_argument(
        "--fault-rate",
        type=_parse_rate,
        action="append",
        default=[],
        metavar="NAME=RATE",
        help=f"random fault probability, repeatable; names: {', '.join(sorted(FAULTS))}",
    )
    parser.add_argument("--script", default="", help="comma-separated faults, in arrival order")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--hang-seconds", type=float, default=3600.0)
    parser.add_argument(
        "--no-uvloop", action="store_true", help="use asyncio's loop even if uvloop is installed"
    )
    return parser


async def _serve_forever(server: OpenAITestServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    print(f"listening on {server.base_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    script = [s.strip() for s in args.script.split(",") if s.strip()]
    try:
        server = OpenAITestServer(
            latency=args.latency,
            script=script,
            fault_rates=dict(args.fault_rate),
            seed=args.seed,
            retry_after=args.retry_after,
            hang_seconds=args.hang_seconds,
            port=args.port,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run: Callable[[Any], Any] = asyncio.run
    if not args.no_uvloop:
        with contextlib.suppress(ImportError):  # optional: a faster loop when installed
            run = importlib.import_module("uvloop").run
    run(_serve_forever(server))
    return 0


if __name__ == "__main__":
    sys.exit(main())
