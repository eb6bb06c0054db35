"""Orchestration efficiency: how close sagert's client path gets to the ideal throughput.

N requests at concurrency C go through sagert's own ``Model`` wrapper and ``OpenAIProvider``
(cache off, default retry policy) to the project's OpenAI-compatible test server, run in a
separate process with a fixed latency per reply. With a perfect client the wall time would be
``N / C * latency``; the benchmark reports the measured wall time against that ideal, and the
client's CPU seconds per request (what limits it on a small machine).

    python benchmarks/throughput.py                      # N=2000 at C=256 and C=64, 0.2 s
    python benchmarks/throughput.py --n 5000 --c 128 --latency 0.1 --repeat 3
    python benchmarks/throughput.py --raw                # also a bare aiohttp loop, no sagert
    python benchmarks/throughput.py --endpoints 3 --n 20000 --c 256   # one role over 3 servers

With ``--endpoints K`` the client is one role over a fleet of K test servers (each its own
process): ``base_url`` as a list, so the ``RoutedProvider`` of the openai provider, built from a
``ModelSpec`` as a config would build it; the raw client sends round-robin to the K servers.

It reports and never asserts: the exit code is 0 whatever the numbers (PASS / BELOW TARGET is
printed per run). docs/performance.md has the measured numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from sagert.cli.gc_tuning import THRESHOLDS, tune_gc
from sagert.models.model import Model
from sagert.models.providers.openai import OpenAIProvider, make_openai
from sagert.models.spec import ModelSpec
from sagert.models.types import Message

DEFAULT_CONFIGS = [(2000, 256, 0.2), (2000, 64, 0.2)]


def target_for(c: int) -> float:
    """The fraction of ideal a run should reach: 90% up to C=64, 80% above."""
    return 0.90 if c <= 64 else 0.80


@dataclass
class Result:
    mode: str
    n: int
    c: int
    latency: float
    wall: float
    client_cpu: float
    server_cpu: float | None
    errors: int
    others_cpu: float | None = None
    """CPU seconds that other processes used on the machine during the run."""
    endpoints: int = 1
    """Servers behind the role (a fleet when more than one)."""

    @property
    def ideal_wall(self) -> float:
        return self.n / self.c * self.latency

    @property
    def rps(self) -> float:
        return self.n / self.wall

    @property
    def ideal_rps(self) -> float:
        return self.c / self.latency

    @property
    def fraction(self) -> float:
        return self.ideal_wall / self.wall


# -- the server, in its own process ------------------------------------------------------------


def _machine_busy_seconds() -> float | None:
    """user + nice + system CPU seconds of the whole machine from /proc/stat (Linux)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
        return (int(fields[1]) + int(fields[2]) + int(fields[3])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _proc_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process from /proc (Linux); None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def server_process(latency: float, server_args: list[str]) -> Iterator[tuple[str, int]]:
    cmd = [
        sys.executable,
        "-m",
        "sagert.testing.openai_server",
        "--port",
        "0",
        "--latency",
        str(latency),
        *server_args,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        prefix = "listening on "
        if not line.startswith(prefix):
            raise RuntimeError(f"test server did not start: {line!r}")
        yield line.removeprefix(prefix), proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def server_processes(
    k: int, latency: float, server_args: list[str]
) -> Iterator[list[tuple[str, int]]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(server_process(latency, server_args)) for _ in range(k)]


# -- the two clients ------------------------------------------------------------------------


def _question(i: int) -> str:
    return f"question number {i}: what is {i} plus {i}?"


def _messages(i: int) -> list[Message]:
    return [Message(role="user", content=_question(i))]


async def run_sagert(base_urls: list[str], n: int, c: int) -> int:
    provider: Any
    if len(base_urls) == 1:
        provider = OpenAIProvider("openai/test-model", "test-model", base_urls[0])
    else:  # a fleet, built as a config's `base_url: [...]` builds it
        spec = ModelSpec(model="openai/test-model", base_url=base_urls, max_connections=c)
        provider = make_openai(spec)
    model = Model(provider, max_connections=c, cache=None)
    prompts = [_messages(i) for i in range(n)]
    try:
        results = await asyncio.gather(
            *(model.generate(p) for p in prompts), return_exceptions=True
        )
    finally:
        await model.aclose()
    return sum(isinstance(r, BaseException) for r in results)


async def run_raw(base_urls: list[str], n: int, c: int) -> int:
    """A bare aiohttp loop: same requests, no sagert (its overhead is the difference);
    round-robin over the servers when there are several."""
    urls = [f"{base_url}/chat/completions" for base_url in base_urls]
    semaphore = asyncio.Semaphore(c)
    errors = 0

    async def one(i: int) -> None:
        nonlocal errors
        body = {
            "model": "test-model",
            "messages": [{"role": "user", "content": _question(i)}],
        }
        async with semaphore:
            try:
                async with session.post(urls[i % len(urls)], json=body) as resp:
                    raw = await resp.read()
                    if resp.status != 200:
                        errors += 1
                        return
                json.loads(raw)["choices"][0]["message"]["content"]
            except (aiohttp.ClientError, ValueError, KeyError):
                errors += 1

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one(i) for i in range(n)))
    return errors


CLIENTS: dict[str, Callable[[list[str], int, int], Awaitable[int]]] = {
    "sagert": run_sagert,
    "raw": run_raw,
}


def measure(
    mode: str,
    n: int,
    c: int,
    latency: float,
    server_args: list[str],
    use_uvloop: bool = False,
    endpoints: int = 1,
) -> Result:
    client = CLIENTS[mode]
    with server_processes(endpoints, latency, server_args) as servers:
        urls, pids = [u for u, _ in servers], [p for _, p in servers]
        server_cpu0 = _servers_cpu(pids)
        busy0 = _machine_busy_seconds()
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        errors = _run(client(urls, n, c), use_uvloop)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        server_cpu1 = _servers_cpu(pids)
        busy1 = _machine_busy_seconds()
    server_cpu = (
        server_cpu1 - server_cpu0 if server_cpu0 is not None and server_cpu1 is not None else None
    )
    others = None
    if busy0 is not None and busy1 is not None and server_cpu is not None:
        others = max(0.0, busy1 - busy0 - cpu - server_cpu)
    return Result(mode, n, c, latency, wall, cpu, server_cpu, errors, others, endpoints)


def _servers_cpu(pids: list[int]) -> float | None:
    """CPU seconds of all the servers together (None when one cannot be read)."""
    values = [_proc_cpu_seconds(pid) for pid in pids]
    return None if any(v is None for v in values) else sum(v or 0.0 for v in values)


def _run(coro: Awaitable[int], use_uvloop: bool) -> int:
    async def main() -> int:
        return await coro

    if use_uvloop:
        uvloop: Any = importlib.import_module("uvloop")
        return int(uvloop.run(main()))
    return asyncio.run(main())


def report(r: Result) -> str:
    target = target_for(r.c)
    verdict = "PASS" if r.fraction >= target and r.errors == 0 else "BELOW TARGET"
    server = f"{r.server_cpu / r.n * 1000:.3f}" if r.server_cpu is not None else "n/a"
    # Other processes' CPU, in cores, while the run went on: more than a few tenths of a core
    # means the machine was shared and the run is not a clean measurement.
    others = f"{r.others_cpu / r.wall:.2f}" if r.others_cpu is not None else "n/a"
    if r.others_cpu is not None and r.others_cpu / r.wall > 0.25:
        verdict += " (machine busy: numbers not clean)"
    return (
        f"{r.mode:<7} N={r.n:<6} C={r.c:<5} endpoints={r.endpoints} latency={r.latency:g}s  "
        f"wall={r.wall:.3f}s  "
        f"req/s={r.rps:.0f}  ideal req/s={r.ideal_rps:.0f}  "
        f"{r.fraction * 100:.1f}% of ideal (target {target * 100:.0f}%)  "
        f"client CPU/req={r.client_cpu / r.n * 1000:.3f}ms  server CPU/req={server}ms (all)  "
        f"other processes={others} cores  errors={r.errors}  {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, help="requests per run")
    parser.add_argument("--c", type=int, help="concurrency")
    parser.add_argument("--latency", type=float, help="server latency per reply, seconds")
    parser.add_argument("--repeat", type=int, default=1, help="runs per config")
    parser.add_argument("--raw", action="store_true", help="also run a bare aiohttp client")
    parser.add_argument(
        "--endpoints", type=int, default=1, help="test servers behind the role (a fleet if > 1)"
    )
    parser.add_argument(
        "--uvloop", action="store_true", help="run the client on uvloop (must be installed)"
    )
    parser.add_argument(
        "--server-no-uvloop", action="store_true", help="keep the server on asyncio's loop"
    )
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep CPython's GC thresholds (the sagert CLI raises them: sagert.cli.gc_tuning)",
    )
    args = parser.parse_args(argv)
    if not args.default_gc:
        tune_gc()

    if args.n is None and args.c is None and args.latency is None:
        configs = DEFAULT_CONFIGS
    else:
        n0, c0, l0 = DEFAULT_CONFIGS[0]
        configs = [
            (
                args.n if args.n is not None else n0,
                args.c if args.c is not None else c0,
                args.latency if args.latency is not None else l0,
            )
        ]
    server_args = ["--no-uvloop"] if args.server_no_uvloop else []
    modes = ["sagert", "raw"] if args.raw else ["sagert"]

    server_loop = "asyncio"
    if not args.server_no_uvloop and importlib.util.find_spec("uvloop") is not None:
        server_loop = "uvloop"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# load average before: {load} (anything else busy on the machine skews the numbers)")
    print(
        f"# {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, client loop: {'uvloop' if args.uvloop else 'asyncio'}, "
        f"server loop: {server_loop}, client GC thresholds: "
        f"{'default' if args.default_gc else THRESHOLDS}",
        flush=True,
    )
    for n, c, latency in configs:
        for _ in range(args.repeat):
            for mode in modes:
                result = measure(
                    mode, n, c, latency, server_args, args.uvloop, max(1, args.endpoints)
                )
                print(report(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
