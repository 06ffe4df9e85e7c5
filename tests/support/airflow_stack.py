"""A real Airflow 3 deployment in a temporary home: api-server (the Task Execution API), scheduler with
LocalExecutor, dag-processor and triggerer, each its own process group on 127.0.0.1, SQLite.

What ``airflow standalone`` starts, minus its auth-manager set-up: LocalExecutor's workers talk to the
api-server at ``[core] execution_api_server_url``, so it is started on a free port and named there. Every
process is started in a new session so a stop (or a kill) reaches the children it forks (the triggerer's
trigger runner, the executor's workers).
"""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from airflow_provider_trainjobs.local.launcher import free_port, wait_http

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


@dataclass
class AirflowStack:
    """The processes of one Airflow home; ``stop()`` ends every one of them (and their process groups)."""

    home: Path
    env: dict[str, str]
    port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _outputs: list[IO[bytes]] = field(default_factory=list)

    @classmethod
    def make(cls, home: Path, dags: Path, **settings: str) -> AirflowStack:
        """The environment of a fresh home (database migrated); nothing started yet."""
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        env.update(
            AIRFLOW_HOME=str(home),
            TMPDIR=str(home / "tmp"),  # the triggers' saved log cursors stay in this home
            AIRFLOW__CORE__DAGS_FOLDER=str(dags),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__UNIT_TEST_MODE="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
            AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(port),
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
            AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="10",
            AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
            AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="2",
            AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="6",
            **settings,
        )
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        stack = cls(home, env, port)
        out = stack.airflow("db", "migrate", timeout=240)
        if out.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed: {out.stderr[-3000:]}")
        return stack

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """One ``airflow`` CLI command in this home."""
        return subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def start(self, name: str) -> subprocess.Popen[bytes]:
        """Start one component (output in <home>/<name>.<n>.out), in its own process group."""
        args = [name, "--host", "127.0.0.1", "--port", str(self.port)] if name == "api-server" else [name]
        out = (self.home / f"{name}.{len(self.started)}.out").open("wb")
        self._outputs.append(out)
        proc = subprocess.Popen([sys.executable, "-m", "airflow", *args], env=self.env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        self.started.append(proc)
        if name == "api-server":
            wait_http(f"http://127.0.0.1:{self.port}/api/v2/monitor/health", proc, timeout=180)
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL a component's whole process group (a crash: no clean-up of its own)."""
        proc = self.procs.pop(name)
        _signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM every started process group, SIGKILL what is left after a grace period."""
        for proc in self.started:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.started:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)  # the group's children too, even when the leader exited
            if proc.poll() is None:
                proc.wait(timeout=10)
        for out in self._outputs:
            out.close()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows from the home's SQLite metadata database (read only)."""
        with sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=10) as db:
            return list(db.execute(sql, params))

    def output(self) -> str:
        """The tail of every component's output, for a failure message."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}"
                         for p in sorted(self.home.glob("*.out")))


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
