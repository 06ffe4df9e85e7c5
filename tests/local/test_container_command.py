"""A custom container gets the same command line on both backends (issue 11.2): the local ml v1 run and the
Vertex translation run by the local service agree, following the references (containerCommand replaces the
ENTRYPOINT; containerArgs, then the job's args, then --job-dir)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_trainjobs.local import containers
from airflow_provider_trainjobs.local.cluster import Cluster, ReplicaPlan, RunContext
from airflow_provider_trainjobs.local.envs import JobEnvironment
from airflow_provider_trainjobs.local.vertex_jobs import new_record
from airflow_provider_trainjobs.spec.vertex import to_vertex_job

IMAGE = "gcr.io/p/trainer:1"
JOB_DIR = "gs://b/jobs/j1"


def _job(**config: object) -> dict[str, object]:
    return {"jobId": "j1", "trainingInput": {
        "scaleTier": "BASIC", "region": "us-central1", "masterConfig": {"imageUri": IMAGE, **config},
        "args": ["--epochs", "3"], "jobDir": JOB_DIR}}


def _commands(job: dict[str, object], tmp_path: Path) -> tuple[list[str], list[str]]:
    training = job["trainingInput"]
    assert isinstance(training, dict)
    ml_ctx = RunContext("p", "j1", training, tmp_path, JobEnvironment("python"), "http://127.0.0.1:1")
    ml_command = Cluster(ml_ctx, [], lambda *a: None)._command(ReplicaPlan("master", 0), {"TF_CONFIG": "{}"})
    record = new_record("customJobs", "p", "us-central1", "1", to_vertex_job(job))
    vx_ctx = RunContext("p", "1", record["trainingInput"], tmp_path, JobEnvironment("python"), "http://127.0.0.1:1",
                        vertex=record["vertex"])
    vx_command = Cluster(vx_ctx, [], lambda *a: None)._command(ReplicaPlan("chief", 0, 0), {"TF_CONFIG": "{}"})
    return ml_command, vx_command


def _after_name(command: list[str]) -> list[str]:
    """From the entrypoint or the image on: what the container runs."""
    return command[command.index("--entrypoint") if "--entrypoint" in command else command.index(IMAGE) - 1:]


@pytest.fixture(autouse=True)
def engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers, "runtime", lambda: (["podman"], ""))


@pytest.mark.parametrize(("config", "expected"), [
    ({}, ["--", IMAGE, "--epochs", "3", "--job-dir", JOB_DIR]),
    ({"containerArgs": ["--role", "m"]}, ["--", IMAGE, "--role", "m", "--epochs", "3", "--job-dir", JOB_DIR]),
    ({"containerCommand": ["python", "-m", "trainer.task"], "containerArgs": ["--role", "m"]},
     ["--entrypoint", "python", "--", IMAGE, "-m", "trainer.task", "--role", "m", "--epochs", "3", "--job-dir",
      JOB_DIR]),
    ({"containerCommand": ["/bin/train"]},
     ["--entrypoint", "/bin/train", "--", IMAGE, "--epochs", "3", "--job-dir", JOB_DIR]),
])
def test_both_backends_run_the_same_command_line(tmp_path: Path, config: dict[str, object],
                                                 expected: list[str]) -> None:
    ml_command, vx_command = _commands(_job(**config), tmp_path)
    assert ml_command[:2] == ["podman", "run"] and "--network" in ml_command
    assert _after_name(ml_command) == _after_name(vx_command) == expected


def test_the_translation_keeps_args_and_job_dir_beside_container_args() -> None:
    pool = to_vertex_job(_job(containerArgs=["--role", "m"]))["jobSpec"]["workerPoolSpecs"][0]
    assert pool["containerSpec"]["args"] == ["--role", "m", "--epochs", "3", "--job-dir", JOB_DIR]


def test_the_metric_file_directory_is_mounted_at_its_own_path(tmp_path: Path) -> None:
    metric = tmp_path / "hypertune" / "output.metrics"
    line = containers.run_command(["podman"], "c1", IMAGE, ["CLOUD_ML_HP_METRIC_FILE"], [], ["--x=1"],
                                  [(metric.parent, str(metric.parent))])
    assert line == ["podman", "run", "--rm", "--network", "host", "--name", "c1", "-e", "CLOUD_ML_HP_METRIC_FILE",
                    "-v", f"{metric.parent}:{metric.parent}", "--", IMAGE, "--x=1"]


@pytest.mark.parametrize("hostile", ["--privileged", "-v/:/host", "--entrypoint=/bin/sh"])
def test_an_image_uri_is_never_read_as_an_engine_option(hostile: str) -> None:
    line = containers.run_command(["podman"], "c1", hostile, [], [], ["--x=1"], [])
    assert line[line.index("--") + 1] == hostile and line.count(hostile) == 1


@pytest.mark.parametrize(("value", "why"), [("'podman", "not a command line"), ("  ", "empty")])
def test_a_bad_container_runtime_is_named(value: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as raised:
        containers.configure(value)
    assert str(raised.value).startswith(f"--container-runtime {value!r}: ")
