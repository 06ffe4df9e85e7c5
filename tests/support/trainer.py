"""The one trainer the tests submit: ``toolbox`` (toolbox_src/), whose ``--mode`` picks the behaviour.

The default mode, ``tiny``, serves the hook, trigger, operator and sensor tests; the local service tests use
the others (succeed, fail, sleep, tfconfig, vertexenv, hp). See toolbox_src/toolbox/task.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

TRAINER_SRC = Path(__file__).resolve().parent / "toolbox_src"
TRAINER_PACKAGE = TRAINER_SRC / "toolbox"  # what an operator's package_path points at
TRAINER_MODULE = "toolbox.task"


def build_trainer_sdist(out: Path, work: Path) -> Path:
    """The trainer as a real setuptools sdist in ``out``, built from a copy in ``work`` (not the source tree)."""
    src = work / "src"
    shutil.copytree(TRAINER_SRC, src)
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(out)],
                   cwd=src, check=True, capture_output=True)
    (sdist,) = out.glob("*.tar.gz")
    return sdist
