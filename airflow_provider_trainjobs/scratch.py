"""Where a package build keeps its scratch copy: in memory (``/dev/shm``) when it fits, else the temp dir.

A build copies the project and writes an uncompressed tar before the one gzip pass, about three times the
trainer's size in files nobody keeps. On a VM disk those writes, not the compression, were most of the build
time (measured in docs/benchmarks.md), so they go to a RAM-backed dir when one is there with room to spare.
An explicit ``TMPDIR`` always wins: it is the user's choice of scratch space.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

RAM_DIR = Path("/dev/shm")
RAM_MAX_BYTES = 512 * 1024 * 1024  # the most scratch a build may put in memory
RAM_SHARE = 0.25  # and never more than this share of the RAM dir's free space


def scratch_dir(needed: int, ram_dir: Path | None = None) -> str | None:
    """The dir for ``needed`` bytes of build scratch: ``ram_dir`` (default :data:`RAM_DIR`) when it is
    writable and roomy enough, else None (:mod:`tempfile`'s default, which honours ``TMPDIR``)."""
    ram_dir = RAM_DIR if ram_dir is None else ram_dir
    if os.environ.get("TMPDIR") or needed > RAM_MAX_BYTES:
        return None
    try:
        free = shutil.disk_usage(ram_dir).free
    except OSError:
        return None
    if needed > free * RAM_SHARE or not os.access(ram_dir, os.W_OK | os.X_OK):
        return None
    return str(ram_dir)
