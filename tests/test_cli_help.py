"""`--help` says what the source says: rich markup must not eat `[...]` (`sagert[embed]`)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from conftest import sagert_cmd
from sagert.cli.app import app

WIDE = {"COLUMNS": "250", "TERMINAL_WIDTH": "250", "NO_COLOR": "1"}


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def _flat(text: str) -> str:
    """The help as words: box borders and line wrapping removed."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_stats_help_shows_the_embed_extra():
    proc = subprocess.run(
        [*sagert_cmd(), "stats", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'sagert[embed]'" in proc.stdout


def test_walks_every_command():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"stats", "export", "models test", "taxonomy show"} <= names


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(path) or "sagert" for path, _ in COMMANDS]
)
def test_help_text_survives_rich_markup(path: tuple[str, ...], command: Any):
    result = CliRunner().invoke(app, [*path, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    shown = _flat(result.output)
    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    for text in filter(None, texts):
        # The first paragraph is what typer shows; `\[` is how the source escapes a bracket.
        wanted = _flat(text.split("\n\n")[0].replace("\\[", "["))
        assert wanted in shown, f"{' '.join(path)}: {wanted!r} not in --help"


def test_list_descriptions_are_not_markup(monkeypatch: pytest.MonkeyPatch):
    import sagert.cli.list as list_cli

    monkeypatch.setattr(list_cli, "rows", lambda kind, templates: [("x", "pip install 'x[y]'")])
    result = CliRunner().invoke(app, ["list", "roles"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "pip install 'x[y]'" in result.output
