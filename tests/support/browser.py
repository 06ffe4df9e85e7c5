"""Headless Chromium for browser checks: skipped where it is missing, except in CI (CI=true), which installs it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def find_chromium() -> str:
    """Debian's chromium, or skip (fail in CI, which must run the browser checks)."""
    path = shutil.which("chromium")
    if path is None:
        message = "chromium not installed: apt-get install -y chromium (Debian) to run this test"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run the browser checks")
        pytest.skip(message)
    return path


def run_chromium(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run with a fresh profile under ``tmp_path``."""
    return subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-proxy-server", f"--user-data-dir={tmp_path / 'profile'}", *args,
        ],
        capture_output=True, text=True, timeout=120, check=True,
    )
