"""The executor setting: config shorthand, the command line's override, Ray missing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from conftest import sagert_cmd
from sagert.cli.executor import with_executor
from sagert.settings.run import RunConfig


def test_executor_config_and_command_line():
    assert RunConfig().executor is None  # local, and not written into a run's config.yaml
    assert "executor" not in RunConfig().to_yaml()
    short = RunConfig.model_validate({"executor": "ray"})
    assert short.executor is not None and short.executor.kind == "ray"
    full = RunConfig.model_validate(
        {"executor": {"kind": "ray", "address": "h:6379", "workers": 4}}
    )
    assert with_executor(full, None, None) is full
    local = with_executor(full, "local", None).executor
    assert local is not None and local.kind == "local" and local.workers == 4
    addressed = with_executor(RunConfig(), None, "10.0.0.1:6379").executor
    assert (
        addressed is not None and addressed.kind == "ray" and addressed.address == "10.0.0.1:6379"
    )
    with pytest.raises(ValueError):
        RunConfig.model_validate({"executor": "dask"})


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="ray is installed")
def test_ray_not_installed_is_one_line(tmp_path: Path, write_config):
    config = write_config({"name": "r", "models": {"target": {"model": "mock/t"}}})
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello\n")
    proc = subprocess.run(
        [*sagert_cmd(), "respond", str(config), "-i", str(prompts), "--executor", "ray"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "needs Ray" in proc.stderr and "sagert[ray]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs" / "r").exists()
