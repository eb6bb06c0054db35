from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# Retries in tests are instant unless a test asks otherwise.
FAST_RETRY = {"max_attempts": 4, "initial_wait": 0.0, "max_wait": 0.0, "jitter": 0.0}


def sagert_cmd() -> list[str]:
    return [sys.executable, "-m", "sagert"]


def env_with_tests() -> dict[str, str]:
    """The environment with tests/ importable (mock responders), keeping any PYTHONPATH set:
    from a worktree, PYTHONPATH=src is what makes a subprocess run this tree's sagert."""
    paths = [str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}


@pytest.fixture(scope="module")
def module_dir(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """A module's scratch folder, deleted once its tests are done: the training and GGUF
    modules write models of hundreds of MB each, and CI's disk is not ours to fill (a
    function's tmp_path goes as soon as its test passes: tmp_path_retention_policy)."""
    path = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a run config whose runs go under tmp_path; returns its path."""

    def _write(data: dict, name: str = "config.yaml") -> Path:
        data = {"runs_dir": str(tmp_path / "runs"), **data}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENAI_BASE_URL", None)
    return env
