"""The replica processes of one run (a job, or one trial of a tuning job) and the environment they see.

Each replica is ``python -m <pythonModule> <args> --job-dir <jobDir>`` with the job environment's interpreter
(or a container, local/containers.py) in its own session; stopping it signals that process group, every descendant found under /proc
and every process carrying the run's ``TRAINJOBS_RUN_ID`` environment marker (so a child that called setsid(),
even one whose parent already exited, is stopped too). Output lines become log entries: stdout is INFO;
stderr is ERROR unless the line starts with a Python logging level name (``INFO``, ``WARNING``,
``DEBUG``, ``CRITICAL``), which then gives the severity. A line longer than 256 KB (Cloud Logging's
entry limit) is cut there and marked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from airflow_provider_trainjobs.local import containers
from airflow_provider_trainjobs.local.envs import JobEnvironment

# ReplicaPlan, plan_job and plan_replicas are also imported from here (re-exported by the ``as`` form).
from airflow_provider_trainjobs.local.replica_plans import ReplicaPlan as ReplicaPlan
from airflow_provider_trainjobs.local.replica_plans import cluster_spec, vertex_cluster_specs
from airflow_provider_trainjobs.local.replica_plans import plan_job as plan_job
from airflow_provider_trainjobs.local.replica_plans import plan_replicas as plan_replicas
from airflow_provider_trainjobs.processes import kill_tree, new_marker, signal_all, with_environ

LogSink = Callable[[str, str, str | None, str], None]  # severity, task_name, trial_id, message

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_CONTAINER_ENV = ("TF_CONFIG", "CLUSTER_SPEC", "CLOUD_ML_JOB_ID", "CLOUD_ML_PROJECT_ID", "CLOUD_ML_TRIAL_ID",
                  "CLOUD_ML_HP_METRIC_FILE", "STORAGE_EMULATOR_HOST")
VERTEX_ENV = ("AIP_MODEL_DIR", "AIP_CHECKPOINT_DIR", "AIP_TENSORBOARD_LOG_DIR", "TRAINJOBS_GCS_ROOT")
KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL when a run is stopped
# Environment markers of every replica: the run it belongs to (finds its orphans on kill) and the service
# that started it (crash recovery never touches another service's trainers).
RUN_MARKER = "TRAINJOBS_RUN_ID"
SERVICE_MARKER = "TRAINJOBS_SERVICE_DATA_DIR"
MAX_LINE_BYTES = 256 * 1024
TRUNCATED = " [truncated: the line was longer than 256 KB]"


def docker_available() -> tuple[bool, str]:
    """Whether a container engine (Docker, or podman, see local/containers.py) answers."""
    engine, why = containers.runtime()
    return engine is not None, why


@dataclass
class Replica:
    plan: ReplicaPlan
    proc: subprocess.Popen[bytes]
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=12))
    readers: list[threading.Thread] = field(default_factory=list)


@dataclass
class RunContext:
    """What every replica of one run shares."""

    project: str
    job_id: str
    training: dict[str, Any]
    workdir: Path
    environment: JobEnvironment  # the interpreter the replicas run with (the job's venv, or the base)
    storage_endpoint: str
    trial_id: str | None = None
    extra_args: list[str] = field(default_factory=list)
    metric_file: Path | None = None
    vertex: dict[str, Any] | None = None  # the record's ``vertex`` section for Vertex AI jobs
    gcs_root: Path | None = None  # the job's /gcs view (Vertex jobs), exported as TRAINJOBS_GCS_ROOT
    service_dir: Path | None = None  # the service's data dir, exported as TRAINJOBS_SERVICE_DATA_DIR


class Cluster:
    """The running replicas of one run; ``poll()`` says when it is over and how."""

    def __init__(self, ctx: RunContext, plans: list[ReplicaPlan], sink: LogSink) -> None:
        self.ctx = ctx
        self.plans = plans
        self.sink = sink
        self.replicas: list[Replica] = []
        self.started_at = 0.0
        self.ended_at = 0.0
        self._pool_cluster: dict[str, list[str]] = {}
        self.marker = "=".join(new_marker(RUN_MARKER))  # in every replica's environment: finds its orphans

    # ----------------------------------------------------------------------------- starting
    def _env(self, plan: ReplicaPlan, cluster: dict[str, list[str]]) -> dict[str, str]:
        ctx = self.ctx
        env = dict(os.environ)
        for key in ("TF_CONFIG", "CLUSTER_SPEC", "CLOUD_ML_TRIAL_ID", "CLOUD_ML_HP_METRIC_FILE", *VERTEX_ENV,
                    SERVICE_MARKER):
            env.pop(key, None)
        task: dict[str, Any] = {"type": plan.task_type, "index": plan.index}
        if ctx.trial_id is not None:
            task["trial"] = ctx.trial_id
        if ctx.vertex is not None:
            self._vertex_env(env, plan, cluster, task)
        else:
            tf_config = {"cluster": cluster, "task": task, "job": ctx.training, "environment": "cloud"}
            env["TF_CONFIG"] = json.dumps(tf_config)
            env["CLUSTER_SPEC"] = json.dumps(tf_config)
        env["CLOUD_ML_JOB_ID"] = ctx.job_id
        env["CLOUD_ML_PROJECT_ID"] = ctx.project
        env["STORAGE_EMULATOR_HOST"] = ctx.storage_endpoint
        env["PYTHONUNBUFFERED"] = "1"
        env[RUN_MARKER] = self.marker.split("=", 1)[1]
        if ctx.service_dir is not None:
            env[SERVICE_MARKER] = str(ctx.service_dir)
        if ctx.trial_id is not None:
            env["CLOUD_ML_TRIAL_ID"] = ctx.trial_id
        if ctx.metric_file is not None:
            env["CLOUD_ML_HP_METRIC_FILE"] = str(ctx.metric_file)
        return env

    def _vertex_env(self, env: dict[str, str], plan: ReplicaPlan, cluster: dict[str, list[str]],
                    task: dict[str, Any]) -> None:
        """Vertex's view: TF_CONFIG (chief/worker/ps), CLUSTER_SPEC (workerpoolN), AIP_* dirs, the pool's env."""
        ctx = self.ctx
        vertex = ctx.vertex or {}
        job_spec = vertex.get("jobSpec") or {}
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task, "job": job_spec, "environment": "cloud"})
        pool_task: dict[str, Any] = {"type": f"workerpool{plan.pool}", "index": plan.index}
        if ctx.trial_id is not None:
            pool_task["trial"] = ctx.trial_id
        env["CLUSTER_SPEC"] = json.dumps({"cluster": self._pool_cluster, "environment": "cloud", "task": pool_task,
                                          "job": job_spec})
        prefix = str((vertex.get("baseOutputDirectory") or {}).get("outputUriPrefix") or "")
        if prefix:
            base = prefix.rstrip("/") + "/" + (f"{ctx.trial_id}/" if ctx.trial_id is not None else "")
            env["AIP_MODEL_DIR"] = base + "model/"
            env["AIP_CHECKPOINT_DIR"] = base + "checkpoints/"
            env["AIP_TENSORBOARD_LOG_DIR"] = base + "logs/"
        if ctx.gcs_root is not None:
            env["TRAINJOBS_GCS_ROOT"] = str(ctx.gcs_root)
        env.update(self._pool(plan).get("env") or {})

    def _pool(self, plan: ReplicaPlan) -> dict[str, Any]:
        pools = (self.ctx.vertex or {}).get("pools") or []
        return next((p for p in pools if p["index"] == plan.pool), {})

    def _vertex_command(self, plan: ReplicaPlan, env: dict[str, str]) -> list[str]:
        pool = self._pool(plan)
        args = [*pool.get("args", []), *self.ctx.extra_args]
        image = pool.get("imageUri")
        if not image:
            return [self.ctx.environment.python, "-m", str(pool["pythonModule"]), *args]
        names = (*_CONTAINER_ENV, *VERTEX_ENV, *pool.get("env", {}))
        return self._docker_run(plan, env, str(image), names, [str(c) for c in pool.get("command") or []], args)

    def _docker_run(self, plan: ReplicaPlan, env: dict[str, str], image: str, names: tuple[str, ...],
                    entrypoint: list[str], args: list[str]) -> list[str]:
        """The container engine's ``run`` of one replica: host network, the named variables of ``env``."""
        engine, why = containers.runtime()
        if engine is None:
            raise RuntimeError(f"no container engine answers: {why}")
        mounts: list[tuple[Path, str]] = []
        if self.ctx.metric_file is not None:  # the hypertune file at the same path inside
            mounts.append((self.ctx.metric_file.parent, str(self.ctx.metric_file.parent)))
        if self.ctx.gcs_root is not None:  # Vertex's /gcs mount
            mounts.append((self.ctx.gcs_root, "/gcs"))
        passed = [k for k in names if k in env and k != "TRAINJOBS_GCS_ROOT"]
        return containers.run_command(engine, self._container_name(plan), image, passed, entrypoint, args, mounts)

    def _container_name(self, plan: ReplicaPlan) -> str:
        return f"trainjobs-{self.ctx.job_id}-{self.ctx.trial_id or 0}-{plan.task_name}"

    @property
    def _uses_docker(self) -> bool:
        if self.ctx.vertex is not None:
            return any(p.get("imageUri") for p in self.ctx.vertex.get("pools") or [])
        return bool((self.ctx.training.get("masterConfig") or {}).get("imageUri"))

    def _command(self, plan: ReplicaPlan, env: dict[str, str]) -> list[str]:
        if self.ctx.vertex is not None:
            return self._vertex_command(plan, env)
        training = self.ctx.training
        args = [str(a) for a in training.get("args") or []] + self.ctx.extra_args
        job_dir = training.get("jobDir")
        if job_dir and "--job-dir" not in args and not any(a.startswith("--job-dir=") for a in args):
            args += ["--job-dir", str(job_dir)]
        config_key = {"master": "masterConfig", "chief": "masterConfig", "worker": "workerConfig",
                      "ps": "parameterServerConfig", "evaluator": "evaluatorConfig"}[plan.task_type]
        config = training.get(config_key) or training.get("masterConfig") or {}
        image = config.get("imageUri")
        if image:
            return self._docker_run(plan, env, str(image), _CONTAINER_ENV,
                                    [str(c) for c in config.get("containerCommand") or []],
                                    [str(a) for a in config.get("containerArgs") or []] + args)
        return [self.ctx.environment.python, "-m", str(training["pythonModule"]), *args]

    def _pump(self, replica: Replica, stream: IO[bytes], is_err: bool) -> None:
        task, trial = replica.plan.task_name, self.ctx.trial_id
        skipping = False  # inside the rest of a line already cut at MAX_LINE_BYTES
        for raw in iter(lambda: stream.readline(MAX_LINE_BYTES + 1), b""):
            if skipping:
                skipping = not raw.endswith(b"\n")
                continue
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                skipping = True
                raw = raw[: MAX_LINE_BYTES - len(TRUNCATED.encode())]
                line = raw.decode("utf-8", "ignore") + TRUNCATED
            else:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                continue
            severity = "INFO"
            if is_err:
                replica.stderr_tail.append(line)
                head = line.lstrip().split(":", 1)[0].split(" ", 1)[0].upper()
                severity = head if head in _LEVELS else "ERROR"
            self.sink(severity, task, trial, line)
        stream.close()

    def start(self) -> None:
        if self.ctx.vertex is not None:
            cluster, self._pool_cluster = vertex_cluster_specs(self.plans)
        else:
            cluster = cluster_spec(self.plans)
        workdir = self.ctx.workdir
        self.started_at = time.time()
        for plan in self.plans:
            cwd = workdir / plan.task_name
            cwd.mkdir(parents=True, exist_ok=True)
            env = self._env(plan, cluster)
            proc = subprocess.Popen(
                self._command(plan, env),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            replica = Replica(plan, proc)
            for stream, is_err in ((proc.stdout, False), (proc.stderr, True)):
                assert stream is not None
                reader = threading.Thread(target=self._pump, args=(replica, stream, is_err), daemon=True)
                reader.start()
                replica.readers.append(reader)
            self.replicas.append(replica)

    @property
    def pids(self) -> list[int]:
        return [r.proc.pid for r in self.replicas]

    # ----------------------------------------------------------------------------- watching
    def poll(self) -> tuple[bool, str] | None:
        """None while running; (True, "") when the primary exited 0; (False, why) when a replica failed."""
        if not self.replicas:
            return None
        for replica in self.replicas:
            code = replica.proc.poll()
            if code is not None and code != 0:
                self._finish(replica)
                return False, self._failure(replica, code)
        primary = self.replicas[0]
        if primary.proc.poll() == 0:
            self._finish(primary)
            return True, ""
        return None

    def _finish(self, replica: Replica) -> None:
        for reader in replica.readers:
            reader.join(timeout=2)
        self.ended_at = time.time()
        self.kill()

    def _failure(self, replica: Replica, code: int) -> str:
        plan = replica.plan
        kind = "master" if plan.task_type == "chief" else plan.task_type
        if code < 0:
            what = f"was terminated by signal {-code}"
        else:
            what = f"exited with a non-zero status of {code}"
        who = plan.task_name if plan.pool is not None else f"{kind} {plan.index}"
        message = f"The replica {who} {what}."
        if replica.stderr_tail:
            message += " Last lines of stderr:\n" + "\n".join(replica.stderr_tail)
        return message

    def kill(self, grace: float = KILL_GRACE) -> None:
        """Terminate every replica's process group and descendants, even orphaned ones (found by the run's
        environment marker): SIGTERM, then SIGKILL after ``grace`` s."""
        alive = []
        strays = with_environ(self.marker)
        for replica in self.replicas:
            running = replica.proc.poll() is None
            strays += kill_tree(replica.proc.pid, signal.SIGTERM, tree=running)
            if running:
                alive.append(replica)
            engine = containers.runtime()[0] if self._uses_docker else None
            if engine is not None:
                containers.kill(engine, self._container_name(replica.plan))
        signal_all(strays, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for replica in alive:
            try:
                replica.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for replica in self.replicas:
            kill_tree(replica.proc.pid, signal.SIGKILL, tree=False)
            replica.proc.wait()
        signal_all([*strays, *with_environ(self.marker)], signal.SIGKILL)
        if not self.ended_at:
            self.ended_at = time.time()
