"""Scale figures: requests and tokens per second per model, endpoint and role, in the manifest
and the CLI's tables."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import env_with_tests, sagert_cmd
from sagert.engine.calls import add_rates, role_shares, stats_delta, sum_calls, sum_roles


def _stage(calls: int, tokens: tuple[int, int], seconds: float) -> dict:
    stats = {
        "roles": ["judge"],
        "calls": calls,
        "prompt_tokens": tokens[0],
        "completion_tokens": tokens[1],
        "endpoints": {
            "http://a/v1": {
                "requests": calls,
                "prompt_tokens": tokens[0],
                "completion_tokens": tokens[1],
            }
        },
    }
    return add_rates({"m": stats}, seconds)


def test_a_stages_rates_are_over_its_wall_time():
    stage = _stage(50, (400, 100), 2.0)["m"]
    assert stage["requests_per_second"] == 25.0
    assert stage["tokens_per_second"] == 250.0 and stage["completion_tokens_per_second"] == 50.0
    assert stage["endpoints"]["http://a/v1"]["requests_per_second"] == 25.0
    idle = add_rates({"m": {"calls": 0, "prompt_tokens": 0}}, 9.0)["m"]
    assert idle["wall_seconds"] == 0.0 and idle["requests_per_second"] == 0.0


def test_a_runs_rates_are_summed_counts_over_summed_busy_time():
    stages = [
        _stage(50, (400, 100), 2.0),
        _stage(10, (100, 0), 3.0),
        add_rates({"m": {"roles": ["judge"], "calls": 0}}, 100.0),
    ]
    total = sum_calls(stages)["m"]
    assert total["calls"] == 60 and total["wall_seconds"] == 5.0  # the idle stage is not counted
    assert total["requests_per_second"] == 12.0 and total["tokens_per_second"] == 120.0
    assert total["endpoints"]["http://a/v1"]["requests"] == 60
    assert total["endpoints"]["http://a/v1"]["requests_per_second"] == 12.0


def test_endpoint_counters_are_a_stages_share():
    before = {"m": {"calls": 5, "endpoints": {"u": {"requests": 7, "ok": 5}}}}
    after = {"m": {"calls": 9, "endpoints": {"u": {"requests": 12, "ok": 9}, "v": {"ok": 1}}}}
    assert stats_delta(before, after) == {
        "m": {"calls": 4, "endpoints": {"u": {"requests": 5, "ok": 4}, "v": {"ok": 1}}}
    }


def test_roles_shares_and_rates():
    before = {"judge": {"calls": 10, "prompt_tokens": 100, "completion_tokens": 0, "cost_usd": 1.0}}
    after = {
        "judge": {"calls": 30, "prompt_tokens": 300, "completion_tokens": 100, "cost_usd": 1.5},
        "target": {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0},
    }
    shares = role_shares(before, after, 4.0)
    assert list(shares) == ["judge"]  # a role that made no call in the stage is left out
    assert shares["judge"]["calls"] == 20 and shares["judge"]["cost_usd"] == pytest.approx(0.5)
    assert shares["judge"]["requests_per_second"] == 5.0
    assert shares["judge"]["tokens_per_second"] == 75.0
    total = sum_roles([shares, role_shares({}, after, 6.0)])
    assert total["judge"]["calls"] == 50 and total["judge"]["wall_seconds"] == 10.0
    assert total["judge"]["requests_per_second"] == 5.0


def test_respond_reports_rates_in_the_manifest_and_the_tables(tmp_path: Path, write_config):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"question number {i}\n" for i in range(40)))
    config = write_config(
        {
            "name": "r",
            "models": {
                "target": {
                    "model": "mock/t",
                    "args": {"delay": 0.01},
                    "price": {"prompt_per_1m": 2.0, "completion_per_1m": 8.0},
                }
            },
        }
    )
    proc = subprocess.run(
        [*sagert_cmd(), "respond", str(config), "-i", str(prompts)],
        capture_output=True,
        text=True,
        env=env_with_tests(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    entry = json.loads((tmp_path / "runs" / "r" / "manifest.json").read_text())["stages"]["respond"]
    model, role = entry["calls"]["mock/t"], entry["roles"]["target"]
    assert model["calls"] == role["calls"] == 40
    assert model["requests_per_second"] == pytest.approx(40 / entry["seconds"], rel=0.01)
    tokens = model["prompt_tokens"] + model["completion_tokens"]
    assert model["tokens_per_second"] == pytest.approx(tokens / entry["seconds"], rel=0.01)
    cost = (model["prompt_tokens"] * 2.0 + model["completion_tokens"] * 8.0) / 1e6
    assert role["cost_usd"] == pytest.approx(cost, rel=1e-3)
    out = proc.stdout
    assert "req/s" in out and "tok/s" in out and "roles (this run)" in out
    row = next(line for line in out.splitlines() if "mock/t" in line)
    assert (
        f"{model['requests_per_second']:.1f}" in row and f"{model['tokens_per_second']:.1f}" in row
    )
