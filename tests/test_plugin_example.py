"""The plugin example of docs/plugins.md (examples/plugin/), imported by path, nothing installed:
its plugins keep the contracts, its own tests pass, and the docs quote its files as they are."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from sagert.core.registry import ENTRY_POINT_GROUP
from sagert.judges.base import judges
from sagert.testing.contracts import (
    check_attack,
    check_judge,
    check_plugin,
    isolated_registries,
    plugin_names,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "plugin"
MODULE = "sagert_example_plugin"
DOCS = REPO / "docs" / "plugins.md"


def _import_example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import examples/plugin/sagert_example_plugin.py from its file (it registers plugins)."""
    spec = importlib.util.spec_from_file_location(MODULE, EXAMPLE / f"{MODULE}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, MODULE, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example module; its registrations are undone after the test."""
    with isolated_registries():
        yield _import_example(monkeypatch)


def test_the_example_plugins_keep_the_contracts(example: ModuleType) -> None:
    check_judge(example.YesNoJudge, answer="no")
    check_attack(example.Shout)
    assert plugin_names("judges", package=MODULE) == ["yesno"]
    assert plugin_names("attacks", package=MODULE) == ["shout"]
    check_plugin("judges", "yesno", answer="no")
    check_plugin("attacks", "shout")


def test_isolated_registries_undo_the_example_registrations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = judges.snapshot()
    with isolated_registries():
        _import_example(monkeypatch)
        assert "yesno" in judges.snapshot()
    assert judges.snapshot() == before
    assert "yesno" not in before


def test_the_example_pyproject_names_the_module_in_the_plugin_group() -> None:
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"][ENTRY_POINT_GROUP] == {"example": MODULE}
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["only-include"] == [f"{MODULE}.py"]
    assert "sagert" in project["project"]["dependencies"]


def test_the_example_tests_pass() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(EXAMPLE)]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b5 passed\b", done.stdout), done.stdout


def _quoted_files() -> list[tuple[str, str]]:
    """(path, text) of every code block in docs/plugins.md whose first line names a file."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    quoted = []
    for block in blocks:
        first, _, rest = block.partition("\n")
        name = re.fullmatch(r"# (examples/plugin/\S+)", first.strip())
        if name:
            quoted.append((name.group(1), rest))
    return quoted


def test_the_docs_quote_the_example_files_as_they_are() -> None:
    quoted = _quoted_files()
    assert {path for path, _ in quoted} >= {
        "examples/plugin/pyproject.toml",
        f"examples/plugin/{MODULE}.py",
        "examples/plugin/tests/test_plugin_contracts.py",
    }
    for path, text in quoted:
        assert text in (REPO / path).read_text(encoding="utf-8"), f"docs/plugins.md: {path}"
