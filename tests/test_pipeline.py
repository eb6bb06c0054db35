"""The pipeline as a list of registered stage names: planned, checked, stopped, extended."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import sagert_cmd
from sagert.core.errors import UserError
from sagert.engine.plan import plan, provides
from sagert.settings.run import RunConfig
from test_export import mock_run_config

TESTS = Path(__file__).resolve().parent


def _run(
    args: list[str], cwd: Path, extra_path: list[Path] | None = None
) -> subprocess.CompletedProcess[str]:
    paths = [str(TESTS), *(str(p) for p in extra_path or [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run(
        [*sagert_cmd(), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_provides_follows_field_paths():
    assert provides(["responses"], "responses.chosen")
    assert provides(["responses.chosen"], "responses")
    assert not provides(["responses_x"], "responses")
    assert not provides(["prompt"], "scores")


def test_a_stage_whose_need_nothing_makes_fails_naming_both():
    config = RunConfig(pipeline=["expand", "sample", "responses", "judge", "pairs"])
    with pytest.raises(UserError) as info:
        plan(config, config.pipeline, source=("taxonomy",))
    line = info.value.one_line()
    assert "'responses'" in line and "'prompt'" in line and "expand, sample" in line


def test_unknown_stage_and_typo_section_and_duplicates_are_one_line():
    for bad, where in (
        (RunConfig(pipeline=["expand", "sampel"]), "pipeline[1]"),
        (RunConfig.model_validate({"stages": {"extrakt": {}}}), "stages.extrakt"),
        (RunConfig(pipeline=["expand", "expand"]), "pipeline"),
    ):
        with pytest.raises(UserError) as info:
            plan(bad, bad.pipeline, source=("taxonomy",))
        assert where in info.value.one_line()


def test_bad_pipeline_fails_before_any_model_call(tmp_path: Path, write_config):
    config = write_config(
        {**mock_run_config("pipeline"), "pipeline": ["expand", "sample", "pairs"]}
    )
    proc = _run(["generate", str(config)], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "'pairs' needs 'responses'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs" / "x").exists()


def test_until_accepts_every_stage_incl_dedup(tmp_path: Path, write_config):
    data = mock_run_config("pipeline")
    data["stages"]["dedup"] = {"exact": True, "minhash": False}
    config = write_config(data)
    proc = _run(["generate", str(config), "--until", "dedup"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    stages = tmp_path / "runs" / "x" / "stages"
    assert (stages / "dedup.jsonl").is_file() and not (stages / "attack.jsonl").exists()
    proc = _run(["generate", str(config), "--until", "bogus"], tmp_path)
    assert proc.returncode == 2 and "dedup" in proc.stderr and "sample" in proc.stderr


SHOUT_PLUGIN = """
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from sagert.engine.stage import stages


class ShoutSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    suffix: str = "!"
    concurrency: int = 8


@stages.register("shout", "Appends a suffix to every prompt (a test plugin).")
@dataclass
class Shout:
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ("prompt",)
    makes: ClassVar[tuple[str, ...]] = ("prompt",)
    Settings: ClassVar[type[BaseModel]] = ShoutSettings

    settings: ShoutSettings

    def spec(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def roles(self) -> tuple[str, ...]:
        return ()

    async def process(self, record, ctx):
        return [record.child(self.name, prompt=(record.prompt or "") + self.settings.suffix)]
"""


def _install_plugin(root: Path) -> Path:
    """A real distribution on sys.path: a package and a dist-info with its entry point."""
    site = root / "site"
    (site / "sagert_shout").mkdir(parents=True)
    (site / "sagert_shout" / "__init__.py").write_text(SHOUT_PLUGIN, encoding="utf-8")
    info = site / "sagert_shout-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sagert-shout\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[sagert.plugins]\nshout = sagert_shout\n")
    return site


def test_a_third_party_stage_goes_into_a_pipeline_by_name(tmp_path: Path, write_config):
    site = _install_plugin(tmp_path)
    listed = _run(["list", "stages"], tmp_path, [site])
    assert listed.returncode == 0 and "shout" in listed.stdout
    data = mock_run_config("pipeline", n_samples=4)
    data["pipeline"] = ["expand", "sample", "raw_text", "extract", "shout", "attack"]
    data["stages"]["shout"] = {"suffix": " NOW!!"}
    config = write_config(data)
    proc = _run(["generate", str(config)], tmp_path, [site])
    assert proc.returncode == 0, proc.stderr
    stages = tmp_path / "runs" / "x" / "stages"
    shouted = _records(stages / "shout.jsonl")
    assert shouted and all(r["prompt"].endswith(" NOW!!") for r in shouted)
    attacked = _records(stages / "attack.jsonl")
    assert {r["parent_id"] for r in attacked} == {r["id"] for r in shouted}
    # Its section is validated by its own settings model, with the usual one line.
    data["stages"]["shout"] = {"sufix": "?"}
    proc = _run(["generate", str(write_config(data, "bad.yaml"))], tmp_path, [site])
    assert proc.returncode == 2 and "stages.shout.sufix" in proc.stderr
    # Without the plugin, the name is unknown: one line, exit 2.
    proc = _run(["generate", str(config)], tmp_path)
    assert proc.returncode == 2 and "'shout'" in proc.stderr


def test_retry_failed_reruns_exactly_the_failed_records(tmp_path: Path, write_config):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("one\nflaky two\nthree\nflaky four\n", encoding="utf-8")
    marker = tmp_path / "outage"
    marker.touch()
    os.environ["SAGERT_FLAKY_MARKER"] = str(marker)
    try:
        data = {
            "name": "r",
            "models": {
                "generator": {"model": "mock/x", "args": {"responder": "mock_responders:flaky"}}
            },
        }
        config = write_config(data)
        assert _run(["respond", str(config), "-i", str(prompts)], tmp_path).returncode == 0
        out = tmp_path / "runs" / "r" / "stages" / "respond.jsonl"
        first = _records(out)
        failed = {r["parent_id"] for r in first if r["status"] == "failed"}
        assert len(failed) == 2
        marker.unlink()
        assert _run(["respond", str(config), "-i", str(prompts)], tmp_path).returncode == 0
        assert _records(out) == first  # a plain re-run does not touch failed records
        proc = _run(["respond", str(config), "-i", str(prompts), "--retry-failed"], tmp_path)
        assert proc.returncode == 0, proc.stderr
        after = _records(out)
        assert all(r["status"] == "ok" for r in after) and len(after) == 4
        assert sorted(r["parent_id"] for r in after) == sorted(r["parent_id"] for r in first)
        ok_before = [r for r in first if r["status"] == "ok"]
        assert all(r in after for r in ok_before)  # the others are kept as they were
        retried = _records(out.with_name("respond.retried.jsonl"))
        assert {r["parent_id"] for r in retried} == failed
        # Same ids as a run that never failed.
        clean = write_config({**data, "name": "clean"}, "clean.yaml")
        assert _run(["respond", str(clean), "-i", str(prompts)], tmp_path).returncode == 0
        clean_ids = {
            r["id"] for r in _records(tmp_path / "runs" / "clean" / "stages" / "respond.jsonl")
        }
        assert {r["id"] for r in after} == clean_ids
    finally:
        os.environ.pop("SAGERT_FLAKY_MARKER", None)


@pytest.mark.parametrize("command", ["generate", "respond", "evaluate"])
def test_retry_failed_is_offered(command: str, tmp_path: Path):
    proc = _run([command, "--help"], tmp_path)
    assert proc.returncode == 0 and "--retry-failed" in proc.stdout
