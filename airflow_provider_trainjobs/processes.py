"""Stop a child process and everything it started, including children that left its group with setsid().

Shared by the packaging build (an Airflow worker) and the local service (builds and trainers). Descendants are
found through /proc parent links (Linux; nothing elsewhere) and, for children already orphaned, through a
marker ``KEY=VALUE`` the caller put in the child's environment (inherited by everything it starts).
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["descendants", "kill_tree", "new_marker", "run_interruptibly", "signal_all", "with_environ"]


def new_marker(key: str) -> tuple[str, str]:
    """A fresh ``(key, value)`` to put in a child's environment so :func:`kill_tree` finds all it starts."""
    return key, uuid.uuid4().hex


def _pids() -> list[int]:
    try:
        return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` from /proc parent links: it includes children that called setsid(),
    not ones already orphaned (their parent exited)."""
    children: dict[int, list[int]] = {}
    for entry in _pids():
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(entry)
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def with_environ(*entries: str) -> list[int]:
    """The processes (readable by this user, other than this one) whose environment holds every ``KEY=VALUE``."""
    wanted = [entry.encode() for entry in entries]
    found: list[int] = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted and all(entry in environ for entry in wanted):
            found.append(pid)
    return found


def signal_all(pids: list[int], sig: int) -> None:
    """Send ``sig`` to each pid, ignoring the ones already gone or not ours."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(pid: int, sig: int = signal.SIGKILL, *, marker: str | None = None, tree: bool = True) -> list[int]:
    """Signal ``pid``'s process group (``pid`` started it with ``start_new_session``), its descendants
    (``tree``: only while ``pid`` is not yet reaped, a reaped pid may be reused) and every process whose
    environment holds ``marker`` (``KEY=VALUE``). Returns the pids signalled outside the group, so a caller that
    sent SIGTERM can follow up with SIGKILL once the group is gone and those are orphaned."""
    strays = descendants(pid) if tree else []
    if marker:
        strays += [p for p in with_environ(marker) if p not in strays and p != pid]
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    signal_all(strays, sig)
    return strays


def run_interruptibly(command: list[str], cwd: Path, interrupt: Callable[[], None],
                      env: dict[str, str] | None = None,
                      marker_key: str = "TRAINJOBS_SUBPROCESS_ID") -> tuple[int, str, str]:
    """Run ``command`` in its own session; returns (exit code, stdout, stderr). While it runs ``interrupt`` is
    called; when it raises, the command and everything it started (setsid() children too, found by an
    environment marker) are killed and the exception propagates. Output goes to files, not pipes, so a child
    left behind cannot hold a pipe open and hang the wait."""
    import subprocess
    import tempfile

    key, value = new_marker(marker_key)
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                text=True, start_new_session=True, env={**(env or os.environ), key: value})
        try:
            while True:
                try:
                    proc.wait(timeout=0.05)
                    break
                except subprocess.TimeoutExpired:
                    interrupt()
        except BaseException:
            kill_tree(proc.pid, signal.SIGKILL, marker=f"{key}={value}")
            proc.wait()
            raise
        finally:
            kill_tree(proc.pid, signal.SIGKILL, marker=f"{key}={value}", tree=False)  # what it left running
        stdout.seek(0)
        stderr.seek(0)
        return proc.returncode, stdout.read(), stderr.read()
