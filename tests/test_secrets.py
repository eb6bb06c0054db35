"""An API key set in the environment never lands in the run directory or the logs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import FAST_RETRY, sagert_cmd
from sagert.testing.openai_server import ServerThread

SECRET = "sk-sagert-test-9f8e7d6c5b4a3210-SECRET"


def test_api_key_is_never_written(tmp_path: Path, write_config):
    with ServerThread(script=["500", "429:0.01"]) as server:
        config = write_config(
            {
                "name": "s",
                "models": {
                    "target": {
                        "model": "openai/t",
                        "base_url": server.base_url,
                        "api_key_env": "SAGERT_SECRET_KEY",
                        "retry": FAST_RETRY,
                    }
                },
            }
        )
        prompts = tmp_path / "p.jsonl"
        prompts.write_text('{"prompt": "hello"}\n{"prompt": "world"}\n')
        env = {**os.environ, "SAGERT_SECRET_KEY": SECRET}
        for debug in ([], ["--debug"]):
            proc = subprocess.run(
                [*sagert_cmd(), *debug, "respond", str(config), "-i", str(prompts)],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr
            assert SECRET not in proc.stdout and SECRET not in proc.stderr
        models = subprocess.run(
            [*sagert_cmd(), "models", "--config", str(config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert SECRET not in models.stdout + models.stderr
    run_dir = tmp_path / "runs" / "s"
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name == "sagert.log" for p in files) and any(p.suffix == ".sqlite" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    assert "SAGERT_SECRET_KEY" in (run_dir / "config.yaml").read_text()  # the name, not the key
