"""Resume: a re-run makes 0 model calls; SIGKILL mid-stage loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from conftest import FAST_RETRY, sagert_cmd


def prompts_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "prompts.jsonl"
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"prompt": f"question number {i}"}) + "\n")
    return path


def respond(config: Path, prompts: Path, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sagert_cmd(), "respond", str(config), "-i", str(prompts)],
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


def stage_rows(run_dir: Path) -> list[dict]:
    lines = (run_dir / "stages" / "respond.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def manifest_calls(run_dir: Path) -> dict:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return manifest["stages"]["respond"]


def test_second_run_makes_zero_calls(tmp_path: Path, write_config):
    config = write_config(
        {
            "name": "twice",
            "models": {"target": {"model": "mock/t", "retry": FAST_RETRY}},
            "stages": {"respond": {"n_samples": 2}},
        }
    )
    prompts = prompts_file(tmp_path, 30)
    first = respond(config, prompts)
    assert first.returncode == 0, first.stderr
    run_dir = tmp_path / "runs" / "twice"
    summary = manifest_calls(run_dir)
    assert summary["written"] == 30 and summary["calls"]["mock/t"]["calls"] == 60

    second = respond(config, prompts)
    assert second.returncode == 0, second.stderr
    summary = manifest_calls(run_dir)
    assert summary["calls"]["mock/t"]["calls"] == 0
    assert summary["skipped_done"] == 30 and summary["written"] == 0
    assert len(stage_rows(run_dir)) == 30


def test_cache_makes_a_fresh_stage_free(tmp_path: Path, write_config):
    """Deleting a stage's output re-does the stage from the cache: still 0 calls."""
    config = write_config({"name": "c", "models": {"target": {"model": "mock/t"}}})
    prompts = prompts_file(tmp_path, 10)
    assert respond(config, prompts).returncode == 0
    run_dir = tmp_path / "runs" / "c"
    before = stage_rows(run_dir)
    (run_dir / "stages" / "respond.jsonl").unlink()
    assert respond(config, prompts).returncode == 0
    summary = manifest_calls(run_dir)["calls"]["mock/t"]
    assert summary["calls"] == 0 and summary["cache_hits"] == 10
    assert sorted(r["id"] for r in stage_rows(run_dir)) == sorted(r["id"] for r in before)


def test_failures_are_recorded_with_reason(tmp_path: Path, write_config):
    config = write_config(
        {
            "name": "f",
            "models": {
                "target": {
                    "model": "mock/t",
                    "retry": FAST_RETRY,
                    "args": {
                        "outputs": [{"error": "HTTP 500: upstream", "retryable": True}] * 4,
                        "default": "fine",
                    },
                }
            },
            "stages": {"respond": {"concurrency": 1}},
        }
    )
    prompts = prompts_file(tmp_path, 3)
    proc = respond(config, prompts)
    assert proc.returncode == 0, proc.stderr
    rows = stage_rows(tmp_path / "runs" / "f")
    assert len(rows) == 3
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1
    assert "after 4 attempt(s)" in failed[0]["failure"]["reason"]
    assert failed[0]["failure"]["raw"] == ["HTTP 500: upstream"]
    assert failed[0]["prompt"] == "question number 0"


def test_sigkill_mid_stage_then_resume(tmp_path: Path, write_config):
    n = 400
    config = write_config(
        {
            "name": "killed",
            "models": {"target": {"model": "mock/t", "args": {"delay": 0.01}}},
            "stages": {"respond": {"concurrency": 16, "n_samples": 1}},
        }
    )
    prompts = prompts_file(tmp_path, n)
    out = tmp_path / "runs" / "killed" / "stages" / "respond.jsonl"
    proc = subprocess.Popen(
        [*sagert_cmd(), "respond", str(config), "-i", str(prompts)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and out.stat().st_size > 0 and len(out.read_bytes().splitlines()) >= 50:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(out.read_bytes().splitlines())
    assert 50 <= partial < n, "the kill must land mid-stage"

    again = respond(config, prompts)
    assert again.returncode == 0, again.stderr
    rows = stage_rows(tmp_path / "runs" / "killed")
    ids = Counter(r["id"] for r in rows)
    assert len(rows) == n and max(ids.values()) == 1  # none lost, none duplicated
    assert {r["prompt"] for r in rows} == {f"question number {i}" for i in range(n)}
    assert all(r["status"] == "ok" for r in rows)
    summary = manifest_calls(tmp_path / "runs" / "killed")
    assert summary["skipped_done"] >= partial and summary["written"] == n - summary["skipped_done"]


def test_respond_through_an_openai_server_with_faults(tmp_path: Path, write_config):
    """The same stage on a real HTTP server that throws 429s, 500s and garbage: all complete."""
    from sagert.testing.openai_server import ServerThread

    with ServerThread(fault_rates={"429:0.01": 0.2, "500": 0.1, "garbage": 0.05}, seed=3) as server:
        config = write_config(
            {
                "name": "served",
                "models": {
                    "target": {
                        "model": "openai/test",
                        "base_url": server.base_url,
                        "max_connections": 8,
                        "retry": {
                            "max_attempts": 8,
                            "initial_wait": 0.01,
                            "max_wait": 0.02,
                            "jitter": 0.0,
                        },
                    }
                },
            }
        )
        prompts = prompts_file(tmp_path, 60)
        proc = respond(config, prompts)
        assert proc.returncode == 0, proc.stderr
        stats = server.stats
    rows = stage_rows(tmp_path / "runs" / "served")
    assert len(rows) == 60 and all(r["status"] == "ok" for r in rows)
    assert {r["responses"]["target"][0]["text"] for r in rows} == {
        f"echo: question number {i}" for i in range(60)
    }
    calls = manifest_calls(tmp_path / "runs" / "served")["calls"]["openai/test"]
    faults = stats.requests - stats.count("ok")
    assert faults > 0
    assert calls["calls"] == stats.requests and calls["retries"] == faults
