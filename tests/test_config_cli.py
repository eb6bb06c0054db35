"""Bad config and bad input: one line naming file, field and fix; exit code 2; no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import sagert_cmd
from sagert.core.errors import ConfigError
from sagert.settings.roles import ROLE_DESCRIPTIONS
from sagert.settings.run import RunConfig, load_config


def sagert(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sagert_cmd(), *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("yaml_text", "field", "fix"),
    [
        ("seeed: 3\n", "seeed", "remove it or correct the spelling"),
        (
            "models:\n  generator:\n    model: llamacpp/smollm2\n    temprature: 0.5\n",
            "models.generator.temprature",
            "allowed keys here",
        ),
        ("seed: lots\n", "seed", "right type"),
        (
            "models:\n  judge:\n    base_url: http://x\n",
            "models.judge.model",
            "add this required field",
        ),
        ("models:\n  target:\n    model: gpt4\n", "models.target.model", "change the value"),
        ("stages:\n  respond:\n    n_samples: 0\n", "stages.respond.n_samples", "change the value"),
        (
            "models:\n  target:\n    model: openai/x\n    api_key: sk-123\n",
            "models.target",
            "api_key_env",
        ),
        ("seed: [1, 2\n", "line 2", "YAML syntax"),
        ("- a\n- b\n", "config.yaml", "key: value"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, yaml_text: str, field: str, fix: str):
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    line = info.value.one_line()
    assert str(path) in line and field in line and fix in line
    assert "\n" not in line
    proc = sagert("respond", str(path), "--input", str(path))
    assert_one_line_error(proc, str(path), field)


def test_missing_config_file(tmp_path: Path):
    proc = sagert("respond", str(tmp_path / "nope.yaml"), "--input", "x.jsonl")
    assert_one_line_error(proc, "nope.yaml", "not found", "sagert init")


def test_secret_never_accepted_and_never_echoed(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text("models:\n  target:\n    model: openai/x\n    api_key: sk-SECRET-999\n")
    proc = sagert("models", "--config", str(path))
    line = assert_one_line_error(proc, "api_key_env")
    assert "sk-SECRET-999" not in line


def test_debug_shows_traceback(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text("seeed: 1\n")
    proc = sagert("--debug", "respond", str(path), "--input", "x")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_bad_prompt_file(tmp_path: Path, write_config):
    config = write_config({"name": "t"})
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"text": "no prompt"}\n')
    assert_one_line_error(
        sagert("respond", str(config), "-i", str(bad)), "p.jsonl", "line 2", "prompt"
    )
    csv = tmp_path / "p.csv"
    csv.write_text("goal,target\nx,y\n")
    assert_one_line_error(sagert("respond", str(config), "-i", str(csv)), "p.csv", "--column")


def test_version_init_and_list(tmp_path: Path):
    assert sagert("--version").stdout.startswith("sagert ")
    path = tmp_path / "sub" / "starter.yaml"
    proc = sagert("init", str(path), "--name", "mine")
    assert proc.returncode == 0, proc.stderr
    config = load_config(path)
    assert config.name == "mine" and config.models.generator.model == "llamacpp/smollm2"
    assert "#" in path.read_text()  # commented for humans
    assert_one_line_error(sagert("init", str(path)), "file exists", "--force")
    for kind in ("providers", "stages", "templates", "roles"):
        proc = sagert("list", kind)
        assert proc.returncode == 0, proc.stderr
    assert "llamacpp" in sagert("list", "providers").stdout
    assert "respond" in sagert("list", "stages").stdout
    assert_one_line_error(sagert("list", "wizards"), "unknown kind")


def test_list_roles_describes_each_role():
    proc = sagert("list", "roles")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for role, description in ROLE_DESCRIPTIONS.items():
        assert description and any(role in ln and description in ln for ln in lines), role


def test_models_overview_shows_role_fallback(write_config):
    config = write_config({"models": {"judge": {"model": "mock/judge"}}})
    proc = sagert("models", "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    assert "mock/judge" in proc.stdout and "generator" in proc.stdout


def test_models_test_on_mock(write_config):
    config = write_config(
        {"models": {"target": {"model": "mock/t", "args": {"default": "Paris."}}}}
    )
    proc = sagert("models", "test", "target", "--config", str(config))
    assert proc.returncode == 0, proc.stderr
    assert "Paris." in proc.stdout and "latency" in proc.stdout
    assert_one_line_error(
        sagert("models", "test", "wizard", "--config", str(config)), "unknown role"
    )


def test_templates_override(tmp_path: Path, write_config):
    tdir = tmp_path / "tpl" / "models"
    tdir.mkdir(parents=True)
    (tdir / "smoke_test.j2").write_text("Say OVERRIDDEN.")
    config = write_config(
        {"templates_dir": str(tmp_path / "tpl"), "models": {"target": {"model": "mock/t"}}}
    )
    listing = sagert("list", "templates", "--config", str(config)).stdout
    assert str(tmp_path / "tpl") in listing
    proc = sagert("models", "test", "target", "--config", str(config))
    assert "Say OVERRIDDEN." in proc.stdout  # the mock echoes the prompt it was sent


def test_default_config_is_valid():
    assert RunConfig().models.for_role("judge").model == "llamacpp/smollm2"


def test_the_cli_raises_the_gc_thresholds():
    """docs/performance.md: the youngest generation collected every 50,000 allocations."""
    code = (
        "import gc\nfrom sagert.cli.app import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(gc.get_threshold())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "(50000, 20, 20)"
