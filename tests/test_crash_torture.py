"""SIGKILL `sagert generate` at 5 random points, resuming each time: the result equals an
uninterrupted run with the same seed, as sets of ids and contents."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

from conftest import FAST_RETRY, sagert_cmd

TESTS = Path(__file__).resolve().parent

CONFIG = {
    "taxonomy": "sage",
    "models": {
        "generator": {
            "model": "mock/gen",
            "max_connections": 8,
            "retry": FAST_RETRY,
            "args": {"responder": "mock_responders:pipeline", "delay": 0.01},
        }
    },
    "stages": {
        "expand": {"depth": 1, "breadth": 2, "max_nodes_per_round": 4},
        "sample": {"n_samples": 24},
        "extract": {"queries_per_text": 2},
        "evolve": {"rounds": 1},
        "dedup": {},
        "attack": {"per_prompt": 2, "styles": ["base64", "roleplay", "past_tense", "leetspeak"]},
    },
    "export": {"formats": ["trl"]},
}


def run_args(config: Path) -> tuple[list[str], dict[str, str]]:
    return [*sagert_cmd(), "generate", str(config)], {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)]),
    }


def written(stages_dir: Path) -> int:
    if not stages_dir.exists():
        return 0
    return sum(p.read_bytes().count(b"\n") for p in stages_dir.glob("*.jsonl"))


def snapshot(run_dir: Path) -> dict[str, set[str]]:
    """Every stage file and the export as sets of canonical lines."""
    out: dict[str, set[str]] = {}
    for path in sorted((run_dir / "stages").glob("*.jsonl")):
        out[path.name] = {
            json.dumps(json.loads(line), sort_keys=True) for line in path.read_text().splitlines()
        }
    out["export"] = set((run_dir / "export" / "train.jsonl").read_text().splitlines())
    out["taxonomy"] = {(run_dir / "taxonomy.yaml").read_text()}
    return out


def test_five_kills_then_resume_equal_an_uninterrupted_run(tmp_path: Path, write_config):
    clean = write_config({"name": "clean", **CONFIG}, name="clean.yaml")
    args, env = run_args(clean)
    started = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    duration = time.monotonic() - started
    expected = snapshot(tmp_path / "runs" / "clean")

    torture = write_config({"name": "torture", **CONFIG}, name="torture.yaml")
    args, env = run_args(torture)
    rng = random.Random(20261123)
    stages_dir = tmp_path / "runs" / "torture" / "stages"
    total_lines = sum(len(lines) for lines in expected.values())
    kills = 0
    for _ in range(5):
        # Kill after a random amount of new output, so every kill lands mid-run.
        target = written(stages_dir) + rng.randint(5, total_lines // 8)
        child = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        deadline = time.monotonic() + duration * 3 + 30
        while child.poll() is None and written(stages_dir) < target:
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            kills += 1
        child.wait()
    assert kills == 5, "every kill must land while the run is still working"
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = snapshot(tmp_path / "runs" / "torture")
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name] == expected[name], name
