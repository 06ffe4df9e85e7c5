"""What a job leaves on the machine: its work dir (removed when it ends unless ``--keep-work-dirs``) and,
after a crash of the service, its trainer processes (killed when the service starts again)."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Container
from pathlib import Path

from airflow_provider_trainjobs.local.cluster import SERVICE_MARKER
from airflow_provider_trainjobs.processes import signal_all, with_environ


def work_dir(data_dir: Path, project: str, job_id: str) -> Path:
    """``<data-dir>/work/<project>/<jobId>``: packages, replica working directories, trials, the /gcs view."""
    return data_dir / "work" / project / job_id


def remove_work_dir(data_dir: Path, project: str, job_id: str) -> None:
    shutil.rmtree(work_dir(data_dir, project, job_id), ignore_errors=True)


def sweep_work_dirs(data_dir: Path, keep: Container[tuple[str, str]]) -> None:
    """Remove every job work dir except those of the (project, jobId) pairs in ``keep``."""
    root = data_dir / "work"
    if not root.is_dir():
        return
    for project_dir in (p for p in root.iterdir() if p.is_dir()):
        for job_dir in (p for p in project_dir.iterdir() if p.is_dir()):
            if (project_dir.name, job_dir.name) not in keep:
                shutil.rmtree(job_dir, ignore_errors=True)


def kill_leftovers(data_dir: Path, project: str, job_id: str, pids: list[int]) -> None:
    """Kill the trainers a crashed service left behind: the recorded process groups ``pids`` (only if they
    are still this job's) and every process, orphaned setsid() children included, whose environment names
    this job and this service's data dir (another service's trainers are never touched)."""
    job_entry = f"CLOUD_ML_JOB_ID={job_id}"
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if job_entry.encode() in environ.split(b"\0"):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
    signal_all(with_environ(job_entry, f"CLOUD_ML_PROJECT_ID={project}", f"{SERVICE_MARKER}={data_dir}"),
               signal.SIGKILL)
