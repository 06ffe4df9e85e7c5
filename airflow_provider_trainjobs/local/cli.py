"""``trainjobs-local``: the embedded training service and the commands to drive it.

``serve`` runs it in the foreground; ``up``/``down`` manage a background one (local/control.py);
``status``, ``describe``, ``logs`` and ``cancel`` look at its jobs (local/jobs_cli.py).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import IO

from airflow_provider_trainjobs.local.control import (
    DEFAULT_PORT,
    DEFAULT_STORAGE_PORT,
    down,
    export_lines,
    forwarded_options,
    up,
)
from airflow_provider_trainjobs.local.jobs_cli import CliError, add_commands, cancel, describe, logs, status

DEFAULT_DATA_DIR = "~/.trainjobs-local"
DEFAULT_AIRFLOW_URL = "http://localhost:8080"  # where `airflow api-server` listens by default
LOCK_FILE = "service.lock"  # in the data dir; held (flock) by the one service running on it
EXAMPLES = """examples:
  eval "$(trainjobs-local up)"          start in the background and export AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT
  trainjobs-local status                the data dir, the service, a table of jobs (exit 3: not running)
  trainjobs-local status --json --watch one JSON report every 2 seconds
  trainjobs-local describe JOB          the job as the API returns it (YAML; --json)
  trainjobs-local logs JOB --follow     its log lines until it ends (--replica, --trial)
  trainjobs-local cancel JOB            cancel it
  trainjobs-local down                  stop the background service
  trainjobs-local serve --port 9000     run in the foreground (Ctrl-C stops it)

Every command takes --data-dir (default ~/.trainjobs-local): one service per data dir.
Needs the [local] extra: pip install 'airflow-provider-trainjobs[local]'.
"""


SUB_EXAMPLES = {
    "serve": "examples:\n  trainjobs-local serve\n  trainjobs-local serve --port 9000 --storage-port 9001 --data-dir /tmp/svc",
    "up": 'examples:\n  eval "$(trainjobs-local up)"\n  eval "$(trainjobs-local up --data-dir /tmp/svc --port 9000)"\n'
          '  eval "$(trainjobs-local up --offline --runtime 2.11=/opt/tf/bin/python)"\n\n'
          'Takes every serve option and passes it on to the serve it starts.',
}


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


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    """Every option of ``serve`` but --data-dir; ``up`` gets the same ones and passes them on (``_up``)."""
    _add_service_options(parser)
    parser.add_argument("--airflow-url", default=DEFAULT_AIRFLOW_URL, metavar="URL",
                        help="the Airflow UI the console links jobs to, from their airflow_dag_id and"
                             f" airflow_task_id labels (default {DEFAULT_AIRFLOW_URL}; '' for no links)")
    _add_environment_options(parser)


def _runtimes(values: list[str]) -> dict[str, str]:
    """``VERSION=PYTHON`` pairs; ValueError naming the bad one."""
    found: dict[str, str] = {}
    for value in values:
        version, sep, python = value.partition("=")
        if not sep or not version or not python:
            raise ValueError(f"--runtime {value!r}: expected VERSION=PATH-TO-PYTHON")
        path = Path(python).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ValueError(f"--runtime {value!r}: {python} is not an executable file")
        found[version] = str(path.absolute())
    return found


def _option_error(args: argparse.Namespace) -> str | None:
    """The line ``serve`` stops with for a bad --airflow-url, --runtime or --container-runtime (None when all
    are good); ``up`` checks the same before it starts anything. Sets the container runtime of this process."""
    from airflow_provider_trainjobs.local import containers

    airflow_url = args.airflow_url.strip()
    if airflow_url and not re.fullmatch(r"https?://[^\s\"'<>]+", airflow_url):
        return f"--airflow-url {airflow_url!r}: must be an http:// or https:// URL, or ''"
    try:
        _runtimes(args.runtime)
        containers.configure(str(args.container_runtime))
    except ValueError as err:
        return str(err)
    return None


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help="jobs, logs and storage of one service (default ~/.trainjobs-local)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trainjobs-local", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="A local service that speaks the AI Platform Training ml v1 and Vertex AI training APIs,\n"
        "with a Cloud Storage emulator, and runs the trainers as local processes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("serve", "run the service in the foreground"),
                       ("up", "start the service in the background; prints an export line for eval")):
        cmd = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".",
                             epilog=SUB_EXAMPLES[name], formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_data_dir(cmd)
        _add_serve_options(cmd)
        if name == "up":  # unset unless given: a given port must match a service already running
            cmd.set_defaults(port=None, storage_port=None)
    cmd = sub.add_parser("down", help="stop the background service", description="Stop the background service.")
    _add_data_dir(cmd)
    add_commands(sub, _add_data_dir)
    return parser


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
    error = _option_error(args)
    if error:
        print(f"trainjobs-local: {error}", file=sys.stderr, flush=True)
        return 1
    data_dir = Path(args.data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_data_dir(data_dir)  # before the Store: a second service would take the first one's jobs
    if lock is None:
        print(f"trainjobs-local: --data-dir {data_dir}: another trainjobs-local service{_lock_holder(data_dir)}"
              " already runs on this data dir; stop it or choose another --data-dir", file=sys.stderr, flush=True)
        return 1
    from airflow_provider_trainjobs.local import console

    console.SETTINGS.airflow_url = args.airflow_url.strip()
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
    runtimes = _runtimes(args.runtime)  # checked by _option_error, which also set the container runtime
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
    engine.packages.configure(runtimes=runtimes, offline=args.offline)
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
        print(export_lines(args.port, args.storage_port), flush=True)
        stop.wait()
        return 0
    finally:
        if thread is not None:
            server.shutdown()
        server.server_close()
        engine.stop()  # settles the jobs it was running (docs/local-service.md "Restart behaviour")
        storage.stop()
        store.close()


def _up(args: argparse.Namespace) -> int:
    """``up``: the checks ``serve`` makes first (so a bad value starts nothing), then ``serve`` in the background
    with every option given here, read back from the definitions both commands share."""
    error = _option_error(args)
    if error:
        print(f"trainjobs-local: {error}", file=sys.stderr, flush=True)
        return 1
    options = argparse.ArgumentParser(add_help=False)
    _add_serve_options(options)
    return up(args, forwarded_options(options._actions, args, skip={"port", "storage_port"}))


HANDLERS = {"serve": serve, "up": _up, "down": down, "status": status, "describe": describe, "logs": logs,
            "cancel": cancel}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("serve", "up"):
        from airflow_provider_trainjobs.local.requirements import missing_extra_message, missing_local_extra

        missing = missing_local_extra()
        if missing:
            print(missing_extra_message(missing), file=sys.stderr)
            return 1
    try:
        return int(HANDLERS[args.command](args))
    except CliError as err:
        print(f"trainjobs-local: {err}", file=sys.stderr)
        return err.code
