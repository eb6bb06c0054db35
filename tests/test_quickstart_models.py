"""The quickstart config's stages up to evolved prompts, on real models: the embedded engine,
and the same config pointed at an OpenAI-compatible server (llama.cpp's own, on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import sagert_cmd
from sagert.models.providers.llamacpp import make_llamacpp
from sagert.models.spec import ModelSpec

TINY = {
    "expand": {"depth": 1, "breadth": 2, "max_nodes_per_round": 1},
    "sample": {"n_samples": 2},
    "extract": {"queries_per_text": 1},
    "evolve": {"rounds": 1},
}


def quickstart_config(tmp_path: Path, models: dict | None = None) -> Path:
    path = tmp_path / "quickstart.yaml"
    proc = subprocess.run([*sagert_cmd(), "init", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    data = yaml.safe_load(path.read_text())
    data["runs_dir"] = str(tmp_path / "runs")
    for stage, settings in TINY.items():
        data["stages"][stage].update(settings)
    for spec in data["models"].values():
        spec["config"]["max_tokens"] = 96
    if models:
        data["models"] = models
    path.write_text(yaml.safe_dump(data))
    return path


def generate_until_evolve(config: Path, cwd: Path) -> Path:
    proc = subprocess.run(
        [*sagert_cmd(), "generate", str(config), "--until", "evolve"],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return cwd / "runs" / "quickstart"


def assert_stages_ran(run_dir: Path) -> None:
    tree = yaml.safe_load((run_dir / "taxonomy.yaml").read_text())
    assert tree["name"] == "alert"
    counts = {}
    for stage in ("expand", "raw_text", "extract", "evolve"):
        path = run_dir / "stages" / f"{stage}.jsonl"
        rows = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        counts[stage] = rows
        for r in rows:  # a tiny model fails often: then the reason and raw text are kept
            assert r["status"] == "ok" or (r["failure"]["reason"] and r["failure"]["attempts"])
    assert len(counts["expand"]) == 1 and len(counts["raw_text"]) == 2
    ok_raw = [r for r in counts["raw_text"] if r["status"] == "ok"]
    ok_extract = [r for r in counts["extract"] if r["status"] == "ok"]
    assert len(counts["extract"]) >= len(ok_raw)
    assert len(counts["evolve"]) == len(ok_extract)
    for r in counts["evolve"]:
        if r["status"] == "ok":
            assert r["lineage"] and r["lineage"][-1]["after"] == r["prompt"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["raw_text"]["calls"]


def test_quickstart_stages_on_the_embedded_model(tmp_path: Path):
    assert_stages_ran(generate_until_evolve(quickstart_config(tmp_path), tmp_path))


@pytest.fixture(scope="module")
def llamacpp_server_url():
    provider = make_llamacpp(ModelSpec(model="llamacpp/smollm2", args={"n_parallel": 4}))
    url = asyncio.run(provider.http_base_url())
    yield url
    asyncio.run(provider.aclose())


def test_quickstart_stages_through_an_openai_compatible_server(
    tmp_path: Path, llamacpp_server_url: str
):
    spec = {
        "model": "openai/smollm2",
        "base_url": llamacpp_server_url,
        "max_connections": 4,
        "config": {"temperature": 0.8, "max_tokens": 96},
    }
    config = quickstart_config(tmp_path, models={"generator": spec})
    assert_stages_ran(generate_until_evolve(config, tmp_path))
