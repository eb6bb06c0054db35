"""Pipeline benchmarks (docs/performance.md): prints numbers, asserts nothing.

    python benchmarks/pipeline.py engine     # embedded pipeline tokens/s vs raw xllamacpp
    python benchmarks/pipeline.py rerun      # re-running a finished 10,000-record run
    python benchmarks/pipeline.py memory     # RSS while 100,000 records go through the server

`engine`: the same prompts, the same n_parallel slots, once straight into xllamacpp's Server
from a thread pool, once through `sagert respond` (Model wrapper, run store, cache off).
`rerun`: a finished `sagert respond` over 10,000 prompts (mock provider) run again: wall time
and model calls. `memory`: `sagert respond` over 100,000 prompts against the test server in
another process, sampling the sagert process's RSS as it goes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

SAGERT = [sys.executable, "-m", "sagert"]
PROMPTS = [
    "Explain how a bicycle gear works.",
    "Write a short story about a lighthouse keeper.",
    "What are the health benefits of walking?",
    "Describe the water cycle for a child.",
    "Give three tips for a job interview.",
    "How do bees make honey?",
    "Summarize the plot of a heist movie.",
    "What is the difference between weather and climate?",
]


def write_prompts(path: Path, n: int) -> None:
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"prompt": f"{PROMPTS[i % len(PROMPTS)]} (variant {i})"}) + "\n")


def write_config(path: Path, runs: Path, name: str, target: dict[str, Any], **respond: Any) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "runs_dir": str(runs),
                "cache": respond.pop("cache", True),
                "models": {"target": target},
                "stages": {"respond": {"concurrency": 256, **respond}},
            }
        )
    )


def manifest_stage(runs: Path, name: str) -> dict[str, Any]:
    manifest = json.loads((runs / name / "manifest.json").read_text())
    stage: dict[str, Any] = manifest["stages"]["respond"]
    return stage


def bench_engine(n: int, slots: int, max_tokens: int) -> None:
    import xllamacpp

    from sagert.models.embedded import verified_embedded_gguf

    params = xllamacpp.CommonParams()
    params.model.path = str(verified_embedded_gguf())
    params.n_parallel = slots
    params.n_ctx = slots * 2048
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = os.cpu_count() or 2
    params.verbosity = -1
    server = xllamacpp.Server(params)
    bodies = [
        {
            "messages": [{"role": "user", "content": f"{PROMPTS[i % len(PROMPTS)]} (variant {i})"}],
            "max_tokens": max_tokens,
            "temperature": 0.8,
            "seed": i,
        }
        for i in range(n)
    ]
    server.handle_chat_completions(bodies[0] | {"max_tokens": 4})  # warm up
    started = time.perf_counter()
    with ThreadPoolExecutor(slots) as pool:
        results = list(pool.map(server.handle_chat_completions, bodies))
    raw_wall = time.perf_counter() - started
    raw_tokens = sum(r["usage"]["completion_tokens"] for r in results)
    del server

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_prompts(root / "p.jsonl", n)
        target = {
            "model": "llamacpp/smollm2",
            "config": {"max_tokens": max_tokens, "temperature": 0.8},
            "args": {"n_parallel": slots},
            "timeout": 600,
        }
        write_config(root / "c.yaml", root / "runs", "engine", target, cache=False)
        started = time.perf_counter()
        subprocess.run(
            [*SAGERT, "-q", "respond", str(root / "c.yaml"), "-i", str(root / "p.jsonl")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        stage = manifest_stage(root / "runs", "engine")
        tokens = stage["calls"]["llamacpp/smollm2"]["completion_tokens"]
        stage_wall = stage["seconds"]
    raw_tps = raw_tokens / raw_wall
    print(f"engine: n={n} slots={slots} max_tokens={max_tokens}")
    print(f"  raw xllamacpp : {raw_tokens} tokens in {raw_wall:.1f} s = {raw_tps:.1f} tok/s")
    print(
        f"  sagert respond: {tokens} tokens in {stage_wall:.1f} s (stage) = "
        f"{tokens / stage_wall:.1f} tok/s; {wall:.1f} s with start-up and model load"
    )
    print(f"  ratio (stage) : {tokens / stage_wall / raw_tps:.1%} of raw (target >= 90%)")


def bench_rerun(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_prompts(root / "p.jsonl", n)
        write_config(root / "c.yaml", root / "runs", "rerun", {"model": "mock/t"})
        cmd = [*SAGERT, "-q", "respond", str(root / "c.yaml"), "-i", str(root / "p.jsonl")]
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        first = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        again = time.perf_counter() - started
        stage = manifest_stage(root / "runs", "rerun")
        calls = stage["calls"]["mock/t"]["calls"]
    print(
        f"rerun: {n} records; first run {first:.1f} s; re-run {again:.2f} s with {calls} "
        f"model calls (target: 0 calls, < 5 s)"
    )


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def bench_memory(n: int) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "sagert.testing.openai_server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    url = server.stdout.readline().split()[-1]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_prompts(root / "p.jsonl", n)
            target = {"model": "openai/t", "base_url": url, "max_connections": 128}
            write_config(root / "c.yaml", root / "runs", "memory", target)
            started = time.perf_counter()
            proc = subprocess.Popen(
                [*SAGERT, "-q", "respond", str(root / "c.yaml"), "-i", str(root / "p.jsonl")],
                stdout=subprocess.DEVNULL,
            )
            samples: list[tuple[float, int, float]] = []
            out = root / "runs" / "memory" / "stages" / "respond.jsonl"

            def sample() -> None:
                while proc.poll() is None:
                    rss = rss_mb(proc.pid)
                    done = out.read_bytes().count(b"\n") if out.exists() else 0
                    if rss is not None:
                        samples.append((time.perf_counter() - started, done, rss))
                    time.sleep(1.0)

            thread = threading.Thread(target=sample)
            thread.start()
            proc.wait()
            thread.join()
            wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    print(f"memory: {n} records through the test server in {wall:.0f} s ({n / wall:.0f} records/s)")
    marks = [samples[int(len(samples) * f)] for f in (0.1, 0.25, 0.5, 0.75)] + [samples[-1]]
    for t, done, rss in marks:
        print(f"  t={t:6.1f} s  records={done:7d}  RSS={rss:6.1f} MB")
    print(f"  peak RSS {max(s[2] for s in samples):.1f} MB (target: flat, < 500 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["engine", "rerun", "memory", "all"])
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    if args.what in ("engine", "all"):
        bench_engine(args.n or 32, args.slots, args.max_tokens)
    if args.what in ("rerun", "all"):
        bench_rerun(args.n or 10_000)
    if args.what in ("memory", "all"):
        bench_memory(args.n or 100_000)


if __name__ == "__main__":
    main()
