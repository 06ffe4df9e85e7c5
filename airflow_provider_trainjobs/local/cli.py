"""``trainjobs-local``: run the embedded training service (``serve``, ``up``, ``down``, ``status``)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import IO, Any

DEFAULT_PORT = 8765
DEFAULT_STORAGE_PORT = 8766
DEFAULT_DATA_DIR = "~/.trainjobs-local"
PROJECT = "local-project"
LOCK_FILE = "service.lock"  # in the data dir; held (flock) by the one service running on it


def _add_service_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="API port on 127.0.0.1 (default 8765)")
    parser.add_argument("--storage-port", type=int, default=DEFAULT_STORAGE_PORT,
                        help="Cloud Storage emulator port on 127.0.0.1 (default 8766)")
    parser.add_argument("--max-concurrent-jobs", type=int, default=os.cpu_count() or 1,
                        help="jobs prepared or running at once; more wait QUEUED (default: CPU count)")
    parser.add_argument("--max-replicas", type=int, default=8,
                        help="replica processes per job (or per trial) at most; larger tiers are capped (default 8)")
    parser.add_argument("--deadline-scale", type=float, default=1.0,
                        help="multiply scheduling.maxWaitTime/maxRunningTime as enforced (tests/demos; default 1)")
    parser.add_argument("--fault-error-rate", type=float, default=0.0,
                        help="fraction of API requests answered with an error from --fault-codes")
    parser.add_argument("--fault-codes", default="429,500,503", help="error codes to inject (default 429,500,503)")
    parser.add_argument("--fault-latency", type=float, default=0.0, help="seconds added to every API request")
    parser.add_argument("--fault-drop-rate", type=float, default=0.0,
                        help="fraction of API requests whose connection is closed without an answer")
    parser.add_argument("--fault-seed", type=int, default=None, help="seed for the fault dice (reproducible runs)")
    from airflow_provider_trainjobs.local.limits import add_limit_options

    add_limit_options(parser)
    from airflow_provider_trainjobs.local.job_limits import add_job_options

    add_job_options(parser)


def _add_environment_options(parser: argparse.ArgumentParser) -> None:
    """Where trainers run (docs/local-service.md "Runtimes and dependencies")."""
    parser.add_argument("--runtime", action="append", default=[], metavar="VERSION=PYTHON",
                        help="base interpreter for jobs whose runtimeVersion (Vertex: executorImageUri) is VERSION;"
                             " repeatable (default: the service's own environment)")
    parser.add_argument("--offline", action="store_true",
                        help="install job dependencies only from the cache; never reach a package index")
    parser.add_argument("--container-runtime", default="auto", metavar="COMMAND",
                        help="what runs custom containers: auto (Docker if it answers, else podman) or a command"
                             " line, e.g. 'podman --runtime runc --cgroup-manager cgroupfs'")


def _runtimes(values: list[str]) -> dict[str, str] | str:
    """``VERSION=PYTHON`` pairs, or the error line naming the bad one."""
    found: dict[str, str] = {}
    for value in values:
        version, sep, python = value.partition("=")
        if not sep or not version or not python:
            return f"--runtime {value!r}: expected VERSION=PATH-TO-PYTHON"
        path = Path(python).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            return f"--runtime {value!r}: {python} is not an executable file"
        found[version] = str(path.absolute())
    return found


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainjobs-local", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("serve", "run the service in the foreground"), ("up", "start the service in the background")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="jobs, logs and storage (default ~/.trainjobs-local)")
        _add_service_options(cmd)
        if name == "serve":
            _add_environment_options(cmd)
    for name, text in (("down", "stop the background service"), ("status", "show the service and its jobs")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    return parser


def connection_line(port: int, storage_port: int) -> str:
    """The Airflow connection that points the provider at this service (ml v1 backend)."""
    extra = {
        "project": PROJECT,
        "backend": "ai-platform",
        "region": "us-central1",
        "api_endpoint": f"http://127.0.0.1:{port}",
        "storage_endpoint": f"http://127.0.0.1:{storage_port}",
        "logging_endpoint": f"http://127.0.0.1:{port}",
    }
    return "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT='" + json.dumps({"conn_type": "trainjobs", "extra": extra}) + "'"


def _lock_data_dir(data_dir: Path) -> IO[str] | None:
    """Take ``<data-dir>/service.lock`` for this process's lifetime (the open file holds the lock); None when
    another service holds it. The file records the holder's pid."""
    import fcntl

    handle = open(data_dir / LOCK_FILE, "a+")  # noqa: SIM115 - open for as long as the service runs
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _lock_holder(data_dir: Path) -> str:
    try:
        pid = (data_dir / LOCK_FILE).read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


def serve(args: argparse.Namespace) -> int:
    """Run in the foreground until SIGTERM/SIGINT; exit 1 with one line when a port cannot be bound or another
    service already runs on the data dir."""
    data_dir = Path(args.data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_data_dir(data_dir)  # before the Store: a second service would take the first one's jobs
    if lock is None:
        print(f"trainjobs-local: --data-dir {data_dir}: another trainjobs-local service{_lock_holder(data_dir)}"
              " already runs on this data dir; stop it or choose another --data-dir", file=sys.stderr, flush=True)
        return 1
    try:
        return _serve_locked(args, data_dir)
    finally:
        lock.close()


def _serve_locked(args: argparse.Namespace, data_dir: Path) -> int:
    from airflow_provider_trainjobs.local.engine import Engine
    from airflow_provider_trainjobs.local.faults import Faults, FaultSettings
    from airflow_provider_trainjobs.local.job_limits import log_cap_from_args
    from airflow_provider_trainjobs.local.limits import limits_from_args
    from airflow_provider_trainjobs.local.server import LocalServer, serve_in_thread
    from airflow_provider_trainjobs.local.storage import StorageEmulator
    from airflow_provider_trainjobs.local.store import Store

    faults = Faults(FaultSettings(
        error_rate=args.fault_error_rate,
        codes=[int(c) for c in str(args.fault_codes).split(",") if c.strip()],
        latency=args.fault_latency,
        drop_rate=args.fault_drop_rate,
        seed=args.fault_seed,
    ))
    from airflow_provider_trainjobs.local import containers

    runtimes = _runtimes(getattr(args, "runtime", None) or [])
    try:
        containers.configure(str(getattr(args, "container_runtime", "auto")))
    except ValueError as err:
        runtimes = str(err)
    if isinstance(runtimes, str):
        print(f"trainjobs-local: {runtimes}", file=sys.stderr, flush=True)
        return 1
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    limits = limits_from_args(args)
    storage = StorageEmulator(args.storage_port, data_dir / "storage", limits)
    store = Store(data_dir / "service.db", log_cap_from_args(args))
    engine = Engine(
        store, data_dir, storage.endpoint,
        max_concurrent_jobs=args.max_concurrent_jobs,
        max_replicas=args.max_replicas,
        deadline_scale=args.deadline_scale,
        keep_work_dirs=args.keep_work_dirs,
    )
    engine.packages.configure(runtimes=runtimes, offline=bool(getattr(args, "offline", False)))
    try:
        server = LocalServer(args.port, engine, faults, storage.endpoint, limits)  # bind the API port first
    except OSError as err:
        store.close()
        print(f"trainjobs-local: --port {args.port}: cannot listen on 127.0.0.1:{args.port}"
              f" ({err.strerror or err}); choose another --port", file=sys.stderr, flush=True)
        return 1
    thread = None
    try:
        try:
            storage.start()
            if not storage.healthy():
                raise OSError(f"the storage emulator on 127.0.0.1:{args.storage_port} does not answer")
        except OSError as err:
            print(f"trainjobs-local: --storage-port {args.storage_port}: {err}; choose another --storage-port",
                  file=sys.stderr, flush=True)
            return 1
        engine.start()
        thread = serve_in_thread(server)
        print(f"trainjobs-local: API on http://127.0.0.1:{args.port}, storage on {storage.endpoint},"
              f" data in {data_dir}", flush=True)
        print(connection_line(args.port, args.storage_port), flush=True)
        stop.wait()
        return 0
    finally:
        if thread is not None:
            server.shutdown()
        server.server_close()
        engine.stop()  # settles the jobs it was running (docs/local-service.md "Restart behaviour")
        storage.stop()
        store.close()


def _state_file(data_dir: Path) -> Path:
    return data_dir / "service.json"


def _read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(_state_file(data_dir).read_text()))
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _healthz(port: int) -> dict[str, Any] | None:
    """The service's /healthz answer on ``port`` (None when nothing answers 200 there)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return dict(json.loads(resp.read())) if resp.status == 200 else None
    except (OSError, ValueError):
        return None


def _is_service(pid: int, port: int) -> bool:
    """True only when ``pid`` is verifiably a trainjobs-local service: /healthz on ``port`` names it, or its
    command line is ``... airflow_provider_trainjobs.local serve ...`` (a recycled pid is never ours)."""
    if not _alive(pid):
        return False
    answer = _healthz(port)
    if answer is not None and answer.get("pid") == pid:
        return True
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(b"airflow_provider_trainjobs.local" in arg for arg in argv) and b"serve" in argv


def _running(state: dict[str, Any] | None) -> bool:
    return state is not None and _is_service(int(state["pid"]), int(state["port"]))


def _forget(data_dir: Path) -> None:
    for name in ("service.pid", "service.json"):
        (data_dir / name).unlink(missing_ok=True)


def up(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    state = _read_state(data_dir)
    if _running(state) and state and (_healthz(int(state["port"])) or {}).get("pid") == int(state["pid"]):
        print(f"trainjobs-local is already running (pid {state['pid']})")
        print(connection_line(int(state["port"]), int(state["storage_port"])))
        return 0
    command = [sys.executable, "-m", "airflow_provider_trainjobs.local", "serve", "--data-dir", str(data_dir)]
    for key, value in vars(args).items():
        if key in ("command", "data_dir") or value is None:
            continue
        command += [f"--{key.replace('_', '-')}", str(value)]
    log = open(data_dir / "service.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            lines = (data_dir / "service.log").read_text(errors="replace").strip().splitlines()
            why = lines[-1] if lines else ""
            print(f"trainjobs-local failed to start (exit {proc.returncode}): {why}\n"
                  f"see {data_dir / 'service.log'}", file=sys.stderr)
            return 1
        answer = _healthz(args.port)
        if answer is not None and answer.get("pid") == proc.pid:  # our child, not another service on the port
            (data_dir / "service.pid").write_text(str(proc.pid))
            _state_file(data_dir).write_text(
                json.dumps({"pid": proc.pid, "port": args.port, "storage_port": args.storage_port}))
            print(f"trainjobs-local is up (pid {proc.pid}); data in {data_dir}")
            print(connection_line(args.port, args.storage_port))
            return 0
        time.sleep(0.1)
    proc.terminate()
    print(f"trainjobs-local did not answer within 60s; see {data_dir / 'service.log'}", file=sys.stderr)
    return 1


def down(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).expanduser().resolve()
    state = _read_state(data_dir)
    if not state or not _running(state):
        if state and _alive(int(state["pid"])):
            print(f"trainjobs-local is not running (pid {state['pid']} recorded in"
                  f" {_state_file(data_dir).name} is another process now; left alone)")
        else:
            print("trainjobs-local is not running")
        _forget(data_dir)
        return 0
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _alive(pid):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    _forget(data_dir)
    print(f"trainjobs-local stopped (pid {pid})")
    return 0


def _age(create_time: str) -> str:
    from airflow_provider_trainjobs.local.store import parse_rfc3339

    seconds = int(time.time() - parse_rfc3339(create_time))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def status(args: argparse.Namespace) -> int:
    from airflow_provider_trainjobs.local.store import Store

    data_dir = Path(args.data_dir).expanduser().resolve()
    state = _read_state(data_dir)
    if state and _running(state) and _healthz(int(state["port"])):
        print(f"running: pid {state['pid']}, API http://127.0.0.1:{state['port']},"
              f" storage http://127.0.0.1:{state['storage_port']}")
    else:
        print("not running")
    db = data_dir / "service.db"
    if not db.exists():
        print("no jobs")
        return 0
    store = Store(db)
    rows = [("PROJECT", "JOB_ID", "STATE", "AGE", "TRIALS")]
    for project, job in store.jobs():
        output = job.get("trainingOutput") or {}
        trials = ""
        if output.get("isHyperparameterTuningJob"):
            total = (job.get("trainingInput", {}).get("hyperparameters") or {}).get("maxTrials") or 1
            trials = f"{output.get('completedTrialCount', '0')}/{total}"
        rows.append((project, job["jobId"], job.get("state", ""), _age(job["createTime"]), trials))
    store.close()
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"serve": serve, "up": up, "down": down, "status": status}[args.command]
    return int(handler(args))
