"""The `respond` workflow as a throughput client, in this process or on the Ray executor.

`benchmarks/throughput.py --executor local|ray` sends its N questions through
`sagert.workflows.respond.run` (a run folder, the store, `run_stage`) instead of a bare
`Model`: with `ray`, each record goes to one of the Ray actors, which holds the role's model
(the fleet's `RoutedProvider`), and its outputs come back to this process, the run's writer.
The C requests in flight are the stage's concurrency; each actor's `max_connections` is its
share of C. The local Ray instance is started before the clock (as a cluster would already be
running); the actors are started on the clock. CPU is this process plus its Ray processes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import psutil

from sagert.settings.run import RunConfig
from sagert.workflows import respond

RAY_WORKERS = 2


def start(executor: str) -> Any:
    """Ray's local instance (with RAY_WORKERS CPUs) when asked for; None otherwise."""
    if executor != "ray":
        return None
    import ray

    ray.init(address="local", num_cpus=RAY_WORKERS, include_dashboard=False, log_to_driver=False)
    return ray


def run_respond(executor: str, base_urls: list[str], n: int, c: int) -> int:
    """N prompts answered by a role over `base_urls` at concurrency C; the failed records."""
    workers = RAY_WORKERS if executor == "ray" else 1
    with tempfile.TemporaryDirectory(prefix="sagert-throughput-") as tmp:
        prompts = Path(tmp) / "prompts.txt"
        prompts.write_text(
            "".join(f"question number {i}: what is {i} plus {i}?\n" for i in range(n))
        )
        base_url: str | list[str] = base_urls[0] if len(base_urls) == 1 else base_urls
        data: dict[str, Any] = {
            "name": "throughput",
            "runs_dir": tmp,
            "cache": False,
            "models": {
                "target": {
                    "model": "openai/test-model",
                    "base_url": base_url,
                    "max_connections": -(-c // workers),
                }
            },
            "stages": {"respond": {"concurrency": c}},
        }
        if executor == "ray":
            data["executor"] = {"kind": "ray", "workers": workers}
        summary = respond.run(RunConfig.model_validate(data), prompts)
        return summary.failed + (n - summary.written)


def helpers_cpu(exclude: set[int]) -> float:
    """CPU seconds of this process's descendants (the Ray processes, and the workers they
    reaped), leaving out the test servers."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        if child.pid in exclude:
            continue
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total
