"""Fixtures for the local service tests (plain helpers live in local_service_helpers.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="session")
def start_service(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """The root conftest's ``start_local_service`` (this folder's conftest shadows ``import conftest``)."""
    root = Path(__file__).resolve().parent.parent / "conftest.py"
    for plugin in request.config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) and Path(plugin.__file__).resolve() == root:
            return plugin.start_local_service  # type: ignore[no-any-return]
    raise RuntimeError("the root tests/conftest.py is not loaded")
