"""``trainjobs-local up`` / ``down``: start and stop the background service of one data dir.

``up`` prints only eval-able ``export`` lines on stdout (``eval "$(trainjobs-local up)"``) and its status on
stderr. The data dir records the running service in ``service.json``; a pid is trusted only when /healthz
or its command line says it is ours (a recycled pid is never signalled).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

PROJECT = "local-project"
DEFAULT_PORT = 8765
DEFAULT_STORAGE_PORT = 8766
CONN_VARIABLE = "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"


def connection_json(port: int, storage_port: int) -> str:
    """The Airflow connection that points the provider at this service (ml v1 backend), as JSON."""
    extra = {
        "project": PROJECT,
        "backend": "ai-platform",
        "region": "us-central1",
        "api_endpoint": f"http://127.0.0.1:{port}",
        "storage_endpoint": f"http://127.0.0.1:{storage_port}",
        "logging_endpoint": f"http://127.0.0.1:{port}",
    }
    return json.dumps({"conn_type": "trainjobs", "extra": extra})


def export_lines(port: int, storage_port: int) -> str:
    """What ``up`` prints on stdout: shell ``export`` lines, safe to ``eval``."""
    return f"export {CONN_VARIABLE}={shlex.quote(connection_json(port, storage_port))}"


def _err(message: str) -> None:
    print(f"trainjobs-local: {message}", file=sys.stderr, flush=True)


def state_file(data_dir: Path) -> Path:
    return data_dir / "service.json"


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(state_file(data_dir).read_text())
        options = [str(option) for option in state.get("options", [])]
        return {"pid": int(state["pid"]), "port": int(state["port"]), "storage_port": int(state["storage_port"]),
                "options": options}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def healthz(port: int) -> dict[str, Any] | None:
    """The service's /healthz answer on ``port`` (None when nothing answers 200 there)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return dict(json.loads(resp.read())) if resp.status == 200 else None
    except (OSError, ValueError):
        return None


def is_service(pid: int, port: int) -> bool:
    """True only when ``pid`` is verifiably a trainjobs-local service: /healthz on ``port`` names it, or its
    command line is ``... airflow_provider_trainjobs.local serve ...`` (a recycled pid is never ours)."""
    if not alive(pid):
        return False
    answer = healthz(port)
    if answer is not None and answer.get("pid") == pid:
        return True
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(b"airflow_provider_trainjobs.local" in arg for arg in argv) and b"serve" in argv


def running_service(data_dir: Path) -> dict[str, Any] | None:
    """The recorded state of the service answering for ``data_dir`` (pid, port, storage_port), else None."""
    state = read_state(data_dir)
    if state is None or not is_service(state["pid"], state["port"]):
        return None
    return state if (healthz(state["port"]) or {}).get("pid") == state["pid"] else None


def forget(data_dir: Path) -> None:
    for name in ("service.pid", "service.json"):
        (data_dir / name).unlink(missing_ok=True)


def forwarded_options(actions: Iterable[argparse.Action], args: argparse.Namespace,
                      skip: Collection[str] = ()) -> list[str]:
    """The command line that gives a parser with these ``actions`` the values ``args`` holds where they differ
    from the defaults: a flag (store_true, store_const, ``nargs='?'`` at its const) bare, a repeatable option
    once per value, any other value as ``--option=value`` so a value starting with '-' stays a value.
    TypeError for an action it cannot write back (a count, a list of values): ``up`` could not pass it on."""
    argv: list[str] = []
    for action in actions:
        if not action.option_strings or action.dest in skip or action.dest == argparse.SUPPRESS:
            continue
        value, default = getattr(args, action.dest, action.default), action.default
        if value == default:
            continue
        option = max(action.option_strings, key=len)  # the long spelling
        if isinstance(action, argparse._AppendAction):
            given = list(value or [])[len(default or []):]  # append adds to the default; pass only what was given
            argv += [f"{option}={item}" for item in given]
        elif action.nargs in (0, "?") and value == action.const:
            argv.append(option)
        elif action.nargs in (None, "?") and isinstance(action, argparse._StoreAction) and value is not None:
            argv.append(f"{option}={value}")
        else:
            raise TypeError(f"{option}: {type(action).__name__} with nargs={action.nargs!r} cannot be passed on")
    return argv


def _conflict(args: argparse.Namespace, state: dict[str, Any], options: list[str]) -> str | None:
    for option, key in (("--port", "port"), ("--storage-port", "storage_port")):
        wanted = getattr(args, key)
        if wanted is not None and wanted != state[key]:
            return (f"{option} {wanted}: the service on --data-dir {args.data_dir} already runs with {option}"
                    f" {state[key]} (pid {state['pid']}); stop it first (trainjobs-local down --data-dir"
                    f" {args.data_dir}) or leave out {option}")
    if options and options != state["options"]:
        running = shlex.join(state["options"]) or "the defaults"
        return (f"{shlex.join(options)}: the service on --data-dir {args.data_dir} already runs with {running}"
                f" (pid {state['pid']}); stop it first (trainjobs-local down --data-dir {args.data_dir}) or"
                " leave out the options")
    return None


def up(args: argparse.Namespace, options: list[str]) -> int:
    """Start ``serve`` in the background (or find it running) and print the connection's export line.
    ``options`` are ``serve`` options as ``forwarded_options`` writes them, apart from the ports."""
    data_dir = Path(args.data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    state = running_service(data_dir)
    if state is not None:
        conflict = _conflict(args, state, options)
        if conflict:
            _err(conflict)
            return 1
        _err(f"already running (pid {state['pid']}): API http://127.0.0.1:{state['port']}, storage"
             f" http://127.0.0.1:{state['storage_port']}, data in {data_dir}")
        print(export_lines(state["port"], state["storage_port"]), flush=True)
        return 0
    port = args.port if args.port is not None else DEFAULT_PORT
    storage_port = args.storage_port if args.storage_port is not None else DEFAULT_STORAGE_PORT
    command = [sys.executable, "-m", "airflow_provider_trainjobs.local", "serve", "--data-dir", str(data_dir),
               "--port", str(port), "--storage-port", str(storage_port), *options]
    log_path = data_dir / "service.log"
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            lines = log_path.read_text(errors="replace").strip().splitlines()
            why = lines[-1] if lines else ""
            _err(f"failed to start (exit {proc.returncode}): {why}\nsee {log_path}")
            return 1
        answer = healthz(port)
        if answer is not None and answer.get("pid") == proc.pid:  # our child, not another service on the port
            (data_dir / "service.pid").write_text(str(proc.pid))
            state = {"pid": proc.pid, "port": port, "storage_port": storage_port, "options": options}
            state_file(data_dir).write_text(json.dumps(state))
            _err(f"up (pid {proc.pid}): API http://127.0.0.1:{port}, storage http://127.0.0.1:{storage_port},"
                 f" data in {data_dir}, log {log_path}")
            print(export_lines(port, storage_port), flush=True)
            return 0
        time.sleep(0.1)
    proc.terminate()
    _err(f"did not answer within 60s; see {log_path}")
    return 1


def down(args: argparse.Namespace) -> int:
    """Stop the data dir's background service (SIGTERM, then SIGKILL after 20 s); never another process."""
    data_dir = Path(args.data_dir).expanduser().resolve()
    state = read_state(data_dir)
    if not state or not is_service(state["pid"], state["port"]):
        if state and alive(state["pid"]):
            print(f"trainjobs-local is not running on {data_dir} (pid {state['pid']} recorded in"
                  f" {state_file(data_dir).name} is another process now; left alone)")
        else:
            print(f"trainjobs-local is not running on {data_dir}")
        forget(data_dir)
        return 0
    pid = state["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and alive(pid):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    forget(data_dir)
    print(f"trainjobs-local stopped (pid {pid}) on {data_dir}")
    return 0
