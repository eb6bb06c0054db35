"""The Ray executor (slow; needs `sagert[ray]`): `respond` and `generate` on a local Ray cluster
of 2 CPUs on 127.0.0.1, started by the test, write exactly the records of a local run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import env_with_tests, sagert_cmd
from test_export import mock_run_config

pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    # A throw-away cluster on this machine: no token (a token of an older cluster in ~/.ray
    # would be refused by this one).
    return {**env_with_tests(), "RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """`ray start --head` with 2 CPUs in a process group of its own, killed by its group id."""
    port = _free_port()
    cmd = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--num-cpus", "2",
        "--node-ip-address", "127.0.0.1", "--port", str(port), "--include-dashboard", "false",
        "--disable-usage-stats", "--block",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        env=_env(),  # the workers import sagert and the tests' mock responders
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            if "Ray runtime started" in line:
                break
            assert time.monotonic() < deadline, "ray start took too long"
        else:
            pytest.fail("ray start exited")
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _sagert(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*sagert_cmd(), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_env(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _records(run_dir: Path) -> dict[str, dict[str, dict]]:
    out = {}
    for path in sorted((run_dir / "stages").glob("*.jsonl")):
        rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
        assert len({r["id"] for r in rows}) == len(rows), path.name
        out[path.name] = {r["id"]: r for r in rows}
    return out


def _calls(run_dir: Path, stage: str) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())["stages"][stage]["calls"]


def test_respond_on_ray_writes_the_records_of_a_local_run(
    tmp_path: Path, write_config, ray_cluster: str
):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"question number {i}\n" for i in range(120)))
    models = {"target": {"model": "mock/t", "args": {"delay": 0.01}}}
    stages = {"respond": {"n_samples": 2}}
    local = write_config({"name": "local", "models": models, "stages": stages}, "local.yaml")
    remote = write_config({"name": "ray", "models": models, "stages": stages}, "ray.yaml")
    _sagert(["respond", str(local), "-i", str(prompts)], tmp_path)
    out = _sagert(
        ["respond", str(remote), "-i", str(prompts), "--ray-address", ray_cluster], tmp_path
    )
    assert "ray executor: 2 workers" in out.stderr + out.stdout
    ray_run, local_run = tmp_path / "runs" / "ray", tmp_path / "runs" / "local"
    assert _records(ray_run) == _records(local_run)
    assert len(_records(ray_run)["respond.jsonl"]) == 120
    # the calls made on the workers are counted by the driver
    assert _calls(ray_run, "respond")["mock/t"]["calls"] == 240
    spent = json.loads((ray_run / "manifest.json").read_text())["spent"]["total"]
    assert spent["calls"] == 240
    again = _sagert(["respond", str(remote), "-i", str(prompts), "--executor", "ray",
                     "--ray-address", ray_cluster], tmp_path)  # fmt: skip
    assert _calls(ray_run, "respond")["mock/t"]["calls"] == 0  # resumed: nothing left to do
    assert "already done" in again.stdout


def test_generate_on_ray_writes_the_records_of_a_local_run(
    tmp_path: Path, write_config, ray_cluster: str
):
    data = {**mock_run_config("pipeline", n_samples=8), "export": {"formats": ["trl"]}}
    local = write_config({**data, "name": "local"}, "local.yaml")
    remote = write_config(
        {**data, "name": "ray", "executor": {"kind": "ray", "address": ray_cluster}}, "ray.yaml"
    )
    _sagert(["generate", str(local)], tmp_path)
    _sagert(["generate", str(remote)], tmp_path)
    ray_records = _records(tmp_path / "runs" / "ray")
    assert ray_records == _records(tmp_path / "runs" / "local")
    assert len(ray_records["pairs.jsonl"]) > 0
    # the same pairs exported (in the order records finished, which no run fixes, local or not)
    local_export = (tmp_path / "runs" / "local" / "export" / "train.jsonl").read_text()
    ray_export = (tmp_path / "runs" / "ray" / "export" / "train.jsonl").read_text()
    assert sorted(ray_export.splitlines()) == sorted(local_export.splitlines())


def test_a_budget_stops_a_ray_run_at_a_record_boundary(
    tmp_path: Path, write_config, ray_cluster: str
):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"question number {i}\n" for i in range(80)))
    models = {"target": {"model": "mock/t", "args": {"delay": 0.01}}}
    stages = {"respond": {"concurrency": 4}}
    base = {"models": models, "stages": stages, "executor": {"kind": "ray", "address": ray_cluster}}
    local = write_config({"name": "local", "models": models, "stages": stages}, "local.yaml")
    _sagert(["respond", str(local), "-i", str(prompts)], tmp_path)
    budgeted = write_config({**base, "name": "ray", "budget": {"calls": 30}}, "b.yaml")
    out = _sagert(["respond", str(budgeted), "-i", str(prompts)], tmp_path)
    assert "budget reached: run calls" in out.stdout
    run_dir = tmp_path / "runs" / "ray"
    spent = json.loads((run_dir / "manifest.json").read_text())["spent"]["total"]["calls"]
    assert 30 <= spent <= 30 + 4  # with Ray the records in flight finish: at most concurrency
    written = _records(run_dir)["respond.jsonl"]
    assert 30 <= len(written) < 80 and all(r["status"] == "ok" for r in written.values())
    _sagert(["respond", str(write_config({**base, "name": "ray"}, "b.yaml")), "-i", str(prompts)],
            tmp_path)  # fmt: skip
    assert _records(run_dir) == _records(tmp_path / "runs" / "local")
