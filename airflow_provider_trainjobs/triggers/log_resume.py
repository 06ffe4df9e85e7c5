"""Where a deferred task's log tailing stands, kept on the triggerer's disk so a restarted triggerer goes on
from there instead of printing the trainer's lines again.

A trigger cannot rewrite its own kwargs, so the cursor it was deferred with grows stale as it prints. Each
time it prints lines it saves its cursor under the trigger's id (the database row, which survives a
triggerer restart); a trigger rebuilt on the same host loads it. Elsewhere (another host, or no trigger
id) nothing is found and the trigger says once where its tailing starts, so a repeat is visible.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def cursor_path(trigger_id: int | None, job_id: str, initial: dict[str, Any] | None) -> Path | None:
    """The file of this trigger's cursor (None without a trigger id: nothing to resume by)."""
    if trigger_id is None:
        return None
    key = hashlib.sha256(json.dumps([trigger_id, job_id, initial], sort_keys=True).encode()).hexdigest()[:32]
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"trainjobs-log-cursors-{uid}" / f"{key}.json"


def load(path: Path | None) -> dict[str, Any] | None:
    """The saved cursor, or None (no file, or one that does not read as a cursor)."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("seen", {}), dict) else None


def save(path: Path | None, cursor: dict[str, Any]) -> None:
    """Write the cursor atomically (a private directory; a failure only means a replay after a restart)."""
    if path is None:
        return
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_text(json.dumps(cursor))
        os.replace(partial, path)
    except OSError:
        pass


def forget(path: Path | None) -> None:
    """The wait ended: the event carries the cursor from here on."""
    if path is not None:
        path.unlink(missing_ok=True)
