"""Headless Chromium for the report tests: Debian's, installed (as root) when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def require_chromium() -> Path:
    """Debian's chromium; installed here (as root) if missing, else the test is skipped."""
    if not CHROMIUM.exists():
        apt = shutil.which("apt-get")
        if apt is None or os.geteuid() != 0:
            pytest.skip("chromium is missing and cannot be installed (no apt-get or not root)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for args in ([apt, "update", "-q"], [apt, "install", "-y", "-q", "chromium"]):
            try:
                subprocess.run(args, check=True, capture_output=True, timeout=900, env=env)
            except (subprocess.SubprocessError, OSError) as exc:
                pytest.skip(f"could not install chromium: {exc}")
    if not CHROMIUM.exists():
        pytest.skip("chromium did not install")
    return CHROMIUM


def headless(chromium: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(chromium),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp / 'chromium-profile'}",
            "--virtual-time-budget=3000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
