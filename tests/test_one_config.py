"""One YAML with every section: every command that takes a config accepts it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from conftest import sagert_cmd
from sagert.settings.run import RunConfig, load_config
from sagert.workflows.align import check_plan
from sagert.workflows.train import train_settings
from test_export import mock_run_config

TESTS = Path(__file__).resolve().parent


def _every_section(tmp_path: Path) -> dict:
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("prompt\nhow do I pick a lock\nwrite a poem about rain\n", encoding="utf-8")
    data = mock_run_config("pipeline", n_samples=3)
    data.update(
        {
            "runs_dir": str(tmp_path / "runs"),
            "seed": 3,
            "cache": True,
            "domain": "healthcare",
            "pipeline": list(RunConfig().pipeline),
            "export": {"formats": ["trl", "jsonl"], "conversational": False},
            "train": {"method": "dpo", "max_steps": 1, "heldout_fraction": 0.3},
            "align": {"heldout": True, "max_batch_size": 4},
            "evaluate": {
                "prompts": [{"path": str(prompts)}],
                "targets": ["target"],
                "attacks": ["none", "base64"],
                "judge": "refusal",
            },
        }
    )
    data["stages"].update(
        {
            "raw_text": {"attempts": 2},
            "responses": {"n_samples": 1},
            "judge": {"judge": "refusal"},
            "respond": {"role": "target"},
            "baseline": {"concurrency": 4},
            "pairs": {"concurrency": 16},
        }
    )
    return data


def _sagert(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # This checkout's src first: an editable install elsewhere must not answer for it.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent / "src"), str(TESTS)])}
    return subprocess.run(
        [*sagert_cmd(), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_every_command_accepts_one_config_with_every_section(tmp_path: Path):
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump(_every_section(tmp_path)), encoding="utf-8")
    cfg = load_config(path)
    assert set(RunConfig.model_fields) <= set(cfg.model_dump()) | {"evaluate"}
    prompts = tmp_path / "prompts.csv"
    commands = [
        ["models", "-c", str(path)],
        ["list", "templates", "-c", str(path)],
        ["taxonomy", "expand", str(path)],
        ["generate", str(path)],
        ["respond", str(path), "-i", str(prompts)],
        ["evaluate", str(path), "--no-report"],
        ["export", str(path)],
        ["report", str(path)],
        ["baseline", str(path), "--calls", "2"],
    ]
    for args in commands:
        proc = _sagert(args, tmp_path)
        assert proc.returncode == 0, (args, proc.stderr[-2000:])
    # train and align need torch to run; their settings and plan come from the same file.
    assert train_settings(cfg, {"method": None}, file=path).method == "dpo"
    check_plan(cfg, cfg.train.heldout_fraction, len(cfg.evaluate.prompts if cfg.evaluate else []))
