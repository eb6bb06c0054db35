"""Soak (slow): `sagert generate` through the test server with 20% 429s, 5% 500s, 5% garbage
and 2% hangs. Every record ends completed or failed with its reason, none lost or duplicated,
and the run's counters match the server's own."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from conftest import sagert_cmd
from mock_responders import server_reply
from sagert.testing.openai_server import ServerThread

pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parent
FAULTS = {"429:0.05": 0.20, "500": 0.05, "garbage": 0.05, "hang": 0.02}


def test_soak_through_a_faulty_server(tmp_path: Path, write_config):
    with ServerThread(fault_rates=FAULTS, seed=7, reply=server_reply, hang_seconds=30) as server:
        config = write_config(
            {
                "name": "soak",
                "taxonomy": "alert",
                "models": {
                    "generator": {
                        "model": "openai/soak",
                        "base_url": server.base_url,
                        "max_connections": 64,
                        "timeout": 1.0,
                        "retry": {
                            "max_attempts": 8,
                            "initial_wait": 0.01,
                            "max_wait": 0.05,
                            "jitter": 0.01,
                            "max_retry_after": 0.1,
                        },
                    }
                },
                "stages": {
                    "expand": {"depth": 0},
                    "sample": {"n_samples": 260},
                    "extract": {"queries_per_text": 2},
                    "evolve": {"rounds": 1},
                    "attack": {
                        "per_prompt": 3,
                        "compose": 1,
                        "styles": ["base64", "leetspeak", "rot13", "prefix_injection"],
                    },
                },
                "export": {"formats": ["trl"]},
            }
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)])}
        proc = subprocess.run(
            [*sagert_cmd(), "-q", "generate", str(config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        stats = server.stats
    run_dir = tmp_path / "runs" / "soak"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    totals: Counter[str] = Counter()
    for stage in manifest["stages"].values():
        for key in ("calls", "retries", "failures"):
            totals[key] += stage["calls"].get("openai/soak", {}).get(key, 0)
    faults = stats.requests - stats.count("ok")
    assert stats.count("429") and stats.count("500") and stats.count("garbage")
    assert stats.count("hang")
    assert totals["calls"] == stats.requests
    assert totals["retries"] + totals["failures"] == faults

    pairs = [json.loads(x) for x in (run_dir / "stages" / "pairs.jsonl").read_text().splitlines()]
    attacked = (run_dir / "stages" / "attack.jsonl").read_text().splitlines()
    assert len(attacked) >= 2000
    ids = Counter(r["id"] for r in pairs)
    assert max(ids.values()) == 1
    for stage_file in (run_dir / "stages").glob("*.jsonl"):
        rows = [json.loads(x) for x in stage_file.read_text().splitlines()]
        assert len({r["id"] for r in rows}) == len(rows), stage_file.name
        for r in rows:
            assert r["status"] == "ok" or r["failure"]["reason"], stage_file.name
    # every input of each stage has its outputs: nothing lost between stages
    chain = ["raw_text", "extract", "evolve", "attack", "responses", "judge", "pairs"]
    for before, after in itertools.pairwise(chain):
        ok_before = {
            json.loads(x)["id"]
            for x in (run_dir / "stages" / f"{before}.jsonl").read_text().splitlines()
            if json.loads(x)["status"] == "ok"
        }
        parents = {
            json.loads(x)["parent_id"]
            for x in (run_dir / "stages" / f"{after}.jsonl").read_text().splitlines()
        }
        assert ok_before == parents, (before, after)
