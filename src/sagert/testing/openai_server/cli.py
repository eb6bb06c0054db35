"""`python -m sagert.testing.openai_server`: the test server as a separate process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import signal
import sys
from collections.abc import Callable
from typing import Any

from sagert.testing.openai_server.faults import FAULTS, fault_base
from sagert.testing.openai_server.server import OpenAITestServer


def _parse_rate(text: str) -> tuple[str, float]:
    name, sep, value = text.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=RATE, e.g. 429=0.2")
    try:
        fault_base(name)
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
