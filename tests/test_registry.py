"""Entry-point plugins: a broken one is one warning, the others load; a registry miss loads them."""

from __future__ import annotations

import logging
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from sagert.core import registry as registry_module
from sagert.core.errors import UserError
from sagert.core.registry import ENTRY_POINT_GROUP, Registry, load_entry_point_plugins

HOST = "sagert_fake_host"
"""A module holding the registry the fake plugins register into (not a real sagert registry)."""

PLUGINS = {
    "good_one": f"from {HOST} import gadgets\ngadgets.add('alpha', 1, 'the first gadget')\n",
    "broken": "raise RuntimeError('this plugin is broken on purpose')\n",
    "good_two": f"from {HOST} import gadgets\ngadgets.add('beta', 2, 'the second gadget')\n",
}


@pytest.fixture
def fake_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Fake plugin modules behind fake entry points; the load state is fresh for each test."""
    (tmp_path / f"{HOST}.py").write_text(
        "from sagert.core.registry import Registry\ngadgets = Registry('gadget')\n"
    )
    for name, source in PLUGINS.items():
        (tmp_path / f"sagert_fake_{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in [HOST, *(f"sagert_fake_{name}" for name in PLUGINS)]:
        monkeypatch.delitem(sys.modules, module, raising=False)
    points = [EntryPoint(name, f"sagert_fake_{name}", ENTRY_POINT_GROUP) for name in PLUGINS] + [
        EntryPoint("missing", "sagert_fake_no_such_module", ENTRY_POINT_GROUP)
    ]
    calls: list[str] = []

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        calls.append(group)
        return points if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points)
    monkeypatch.setattr(registry_module, "_state", registry_module._EntryPointState())
    host = __import__(HOST)
    return {"gadgets": host.gadgets, "calls": calls}


def test_a_broken_plugin_is_one_warning_and_the_others_load(
    fake_plugins: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    gadgets = fake_plugins["gadgets"]
    assert isinstance(gadgets, Registry)
    with caplog.at_level(logging.WARNING, logger="sagert.core.registry"):
        loaded = load_entry_point_plugins()
    assert loaded == ["good_one", "good_two"]
    assert gadgets.names() == ["alpha", "beta"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    broken, missing = warnings
    assert "'broken'" in broken and "sagert_fake_broken" in broken
    assert "RuntimeError: this plugin is broken on purpose" in broken
    assert "'missing'" in missing and "ModuleNotFoundError" in missing
    assert "sagert_fake_no_such_module" in missing


def test_each_entry_point_is_tried_once(
    fake_plugins: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    load_entry_point_plugins()
    assert len(caplog.records) == 2
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sagert.core.registry"):
        again = load_entry_point_plugins()  # the CLI calls it on every command
    assert again == ["good_one", "good_two"]
    assert caplog.records == []


def test_a_registry_miss_loads_the_plugins_once(fake_plugins: dict[str, object]) -> None:
    gadgets = fake_plugins["gadgets"]
    calls = fake_plugins["calls"]
    assert isinstance(gadgets, Registry) and isinstance(calls, list)
    assert gadgets.names() == []  # nothing has loaded the entry points yet
    assert gadgets.get("beta") == 2
    assert len(calls) == 1
    with pytest.raises(UserError) as info:
        gadgets.get("gamma")
    assert "unknown gadget 'gamma'" in info.value.one_line()
    assert "use one of: alpha, beta" in info.value.one_line()
    assert len(calls) == 1, "a second miss does not scan the entry points again"


def test_membership_also_finds_plugins(fake_plugins: dict[str, object]) -> None:
    gadgets = fake_plugins["gadgets"]
    assert isinstance(gadgets, Registry)
    assert "alpha" in gadgets
    assert "gamma" not in gadgets
    assert 3 not in gadgets


def test_a_hit_does_not_load_plugins(fake_plugins: dict[str, object]) -> None:
    local: Registry[int] = Registry("thing")
    local.add("here", 1)
    assert local.get("here") == 1 and "here" in local
    assert fake_plugins["calls"] == []
