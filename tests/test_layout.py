"""The house rules that a tool can check: small modules, each layer importing only below it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "sagert"
MAX_LINES = 400


def test_no_module_is_longer_than_400_lines():
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these modules: {long}"


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_the_layers_contract_holds():
    proc = subprocess.run(
        ["lint-imports"], capture_output=True, text=True, cwd=SRC.parent.parent, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "2 kept, 0 broken" in proc.stdout
