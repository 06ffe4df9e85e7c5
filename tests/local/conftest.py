"""Fixtures for the local service tests (helpers live in local_service_helpers.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOOLBOX_SRC = Path(__file__).resolve().parent / "toolbox_src"


@pytest.fixture(scope="session")
def toolbox_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toolbox trainer as a real setuptools sdist (built once per session, outside the source tree)."""
    out = tmp_path_factory.mktemp("toolbox-dist")
    work = tmp_path_factory.mktemp("toolbox-build") / "src"
    shutil.copytree(TOOLBOX_SRC, work)
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(out)],
                   cwd=work, check=True, capture_output=True)
    (sdist,) = out.glob("*.tar.gz")
    return sdist
