"""``trainjobs-local up`` takes every ``serve`` option and the background service really runs with them (issue 11).

The options that broke the old ``--key value`` forwarding: ``--offline`` (a flag), ``--runtime`` (repeatable) and
``--container-runtime`` (a value that is itself a command line full of dashes). What the service did with them is
read back from its jobs: the runtime and offline log lines, and the command line the container engine received.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import list_log_entries, logging_client, ml_client, processes_gone, tiny_job, upload, wait_for

PROJECT = "local-project"
FAKE_ENGINE = """#!{python}
import json, os, sys
with open(os.environ["FAKE_ENGINE_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if "run" in sys.argv:
    print("the fake engine ran the container", flush=True)
"""


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow_provider_trainjobs.local", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def _free_port() -> int:
    from airflow_provider_trainjobs.local.launcher import free_port

    return free_port()


def _messages(api: str, job_id: str) -> list[str]:
    return [e["jsonPayload"]["message"] for e in list_log_entries(logging_client(api), job_id)]


def _fake_podman(bin_dir: Path) -> Path:
    """A ``podman`` on PATH that answers ``info`` and ``run`` and records every command line it is given."""
    bin_dir.mkdir()
    engine = bin_dir / "podman"
    engine.write_text(FAKE_ENGINE.format(python=sys.executable))
    engine.chmod(0o755)
    return bin_dir / "calls.jsonl"


def test_up_passes_offline_runtime_and_container_runtime_to_the_service(tmp_path: Path, trainer_sdist: Path) -> None:
    data_dir = tmp_path / "svc"
    calls = _fake_podman(tmp_path / "bin")
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "FAKE_ENGINE_LOG": str(calls)}
    port, storage_port = _free_port(), _free_port()
    options = ["--offline", "--runtime", f"9.9={sys.executable}", "--runtime", f"8.8={sys.executable}",
               "--container-runtime", "podman --runtime runc"]
    up = _cli("up", "--data-dir", str(data_dir), "--port", str(port), "--storage-port", str(storage_port), *options,
              env=env)
    pid = int((data_dir / "service.pid").read_text()) if (data_dir / "service.pid").exists() else 0
    try:
        assert up.returncode == 0, up.stderr
        again = _cli("up", "--data-dir", str(data_dir), *options[1:], options[0])  # same, reordered
        assert again.returncode == 0 and "already running" in again.stderr, again.stderr
        other = _cli("up", "--data-dir", str(data_dir), "--offline")  # not what it runs with: an error
        assert other.returncode == 1 and other.stdout == "", other.stderr
        assert other.stderr.startswith("trainjobs-local: --offline: the service on --data-dir") and \
            f"already runs with --runtime=9.9={sys.executable} --runtime=8.8={sys.executable} --offline" \
            " '--container-runtime=podman --runtime runc' (pid" in other.stderr
        api, storage = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{storage_port}"
        ml = ml_client(api)
        uri = upload(storage, trainer_sdist)
        for job_id, version in (("opt_runtime_a", "9.9"), ("opt_runtime_b", "8.8")):
            ml.projects().jobs().create(parent=f"projects/{PROJECT}",
                                        body=tiny_job(job_id, uri, runtimeVersion=version)).execute()
        ml.projects().jobs().create(parent=f"projects/{PROJECT}", body={"jobId": "opt_container", "trainingInput": {
            "scaleTier": "BASIC", "region": "us-central1",
            "masterConfig": {"imageUri": "example.invalid/trainer:1", "containerArgs": ["--flag=-1"]}}}).execute()

        seen: list[str] = []
        for job_id, version in (("opt_runtime_a", "9.9"), ("opt_runtime_b", "8.8")):
            job = wait_for(ml, PROJECT, job_id, limit=180)
            assert job["state"] == "SUCCEEDED", job.get("errorMessage")
            lines = _messages(api, job_id)
            assert f"runtimeVersion {version}: the trainer runs on the runtime {sys.executable} (--runtime" \
                   f" {version})." in lines  # each repeated --runtime reached the service
            seen += lines
        # --offline did: the one of the two that built the shared environment said so
        assert [m for m in seen if m.startswith("Installing package(s)") and m.endswith("(offline: only the cache).")]
        job = wait_for(ml, PROJECT, "opt_container", limit=180)
        assert job["state"] == "SUCCEEDED", job.get("errorMessage")
        assert "the fake engine ran the container" in _messages(api, "opt_container")
        ran = [json.loads(line) for line in calls.read_text().splitlines()]
        assert ran[0] == ["--runtime", "runc", "info"]  # the whole --container-runtime command line, as given
        run = next(argv for argv in ran if "run" in argv)
        assert run[:3] == ["--runtime", "runc", "run"] and run[-3:] == ["--", "example.invalid/trainer:1", "--flag=-1"]
    finally:
        down = _cli("down", "--data-dir", str(data_dir))
    assert down.returncode == 0 and "stopped" in down.stdout
    assert processes_gone([pid])
