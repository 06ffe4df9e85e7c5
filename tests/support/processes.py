"""Watching the trainer processes a local service starts (pid files, liveness)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone as far as the tree is concerned.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def wait_for_file(path: Path, limit: float = 30.0) -> list[int]:
    deadline = time.monotonic() + limit
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"trainer never wrote {path}")
        time.sleep(0.05)
    return list(json.loads(path.read_text()))


def processes_gone(pids: list[int], limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while any(process_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
