"""Trainer sdists written the way AI Platform users write them: a ``trainer.task`` module and a setup.py with
``REQUIRED_PACKAGES``, for the dependency, fail-fast and container tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def trainer_sdist(work: Path, name: str, task_source: str, *, requires: Sequence[str] = (),
                  version: str = "0.1") -> Path:
    """A real setuptools sdist of distribution ``name`` holding package ``trainer`` with ``task_source`` as
    ``trainer/task.py`` and ``install_requires=requires``."""
    src = work / f"{name}-src"
    (src / "trainer").mkdir(parents=True)
    (src / "trainer" / "__init__.py").write_text("")
    (src / "trainer" / "task.py").write_text(task_source)
    (src / "setup.py").write_text(
        "from setuptools import find_packages, setup\n"
        f"REQUIRED_PACKAGES = {list(requires)!r}\n"
        f"setup(name={name!r}, version={version!r}, packages=find_packages(),"
        " install_requires=REQUIRED_PACKAGES)\n"
    )
    out = work / f"{name}-dist"
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(out)], cwd=src, check=True,
                   capture_output=True)
    (sdist,) = out.glob("*.tar.gz")
    return sdist
