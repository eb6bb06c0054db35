"""CI runs exactly the README's test command, and that command runs CI's slow tests."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def readme_test_command() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("**2. Set up and run the tests**", 1)[1]
    found = re.search(r"```bash\n(.+?)\n```", section, re.S)
    assert found, "the README's second command block is missing"
    return found.group(1).strip()


def test_ci_runs_the_readme_command():
    lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert lines[-1] == readme_test_command()


def test_the_command_installs_training_and_runs_the_ci_slow_tests():
    steps = [shlex.split(step) for step in readme_test_command().split(" && ")]
    installs = [s for s in steps if s[:2] == ["pip", "install"]]
    assert installs[0][-1].startswith("torch==")  # first: a pinned (CPU) torch
    assert any("-e" in s and "train" in s[-1] and "embed" in s[-1] for s in installs)
    pytest_step = steps[-1]
    assert pytest_step[0] == "pytest" and pytest_step[1] == "-m"
    marks = pytest_step[2]
    assert "ci" in marks and "not gpu" in marks and "not api" in marks
