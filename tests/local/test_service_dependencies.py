"""Each job runs in an environment holding its packages and their declared dependencies (issue 11.1).

The dependency is ``inflection`` (one small pure-Python module, not installed where the service runs), resolved
from the index this machine is configured for. The services here share one uv cache for the session, so the
package is downloaded once; the offline service reads the same cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import list_log_entries, logging_client, ml_client, unique, upload, wait_for
from support.trainers import trainer_sdist

from airflow_provider_trainjobs.local.launcher import ServiceProcess, serving

PROJECT = "local-project"
USES_INFLECTION = (
    "import importlib.metadata, inflection, sys\n"
    "print('camelize:', inflection.camelize('trainer_ran'), 'from', inflection.__file__, flush=True)\n"
    "print('version', importlib.metadata.version('inflection'), flush=True)\n"
)


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uv-cache")


def _service(tmp_path_factory: pytest.TempPathFactory, uv_cache: Path, *args: str) -> Iterator[ServiceProcess]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UV_CACHE_DIR", str(uv_cache))  # inherited by the service and the uv it runs
        with serving(tmp_path_factory.mktemp("deps") / "data", *args) as service:
            patch.undo()
            yield service


@pytest.fixture(scope="module")
def dep_service(tmp_path_factory: pytest.TempPathFactory, uv_cache: Path) -> Iterator[ServiceProcess]:
    yield from _service(tmp_path_factory, uv_cache)


@pytest.fixture(scope="module")
def offline_service(tmp_path_factory: pytest.TempPathFactory, uv_cache: Path) -> Iterator[ServiceProcess]:
    yield from _service(tmp_path_factory, uv_cache, "--offline")


@pytest.fixture(scope="module")
def inflection_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trainer_sdist(tmp_path_factory.mktemp("infl"), "usesinflection", USES_INFLECTION,
                         requires=["inflection>=0.5"])


def _run(service: ServiceProcess, sdist: Path, **training: Any) -> tuple[dict[str, Any], list[str]]:
    ml = ml_client(service.api_endpoint)
    job_id = unique("deps")
    body = {"jobId": job_id, "trainingInput": {"scaleTier": "BASIC", "region": "us-central1",
                                               "pythonModule": "trainer.task",
                                               "packageUris": [upload(service.storage_endpoint, sdist)], **training}}
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    job = wait_for(ml, PROJECT, job_id, limit=180)
    entries = list_log_entries(logging_client(service.api_endpoint), job_id)
    return job, [e["jsonPayload"]["message"] for e in entries]


def test_declared_dependencies_are_installed_and_the_environment_is_reused(
    dep_service: ServiceProcess, inflection_sdist: Path
) -> None:
    import importlib.util

    assert importlib.util.find_spec("inflection") is None, "the dependency must not be where the service runs"
    first, lines = _run(dep_service, inflection_sdist)
    assert first["state"] == "SUCCEEDED", first.get("errorMessage")
    assert "camelize: TrainerRan from " + str(dep_service.data_dir) in "\n".join(lines)
    installed = [m for m in lines if m.startswith("Installed ")]
    assert len(installed) == 1 and "inflection==" in installed[0] and " s with uv: " in installed[0], lines
    assert any(m.startswith("Resolving what the base") and "inflection>=0.5" in m for m in lines)

    second, again = _run(dep_service, inflection_sdist)
    assert second["state"] == "SUCCEEDED", second.get("errorMessage")
    assert not [m for m in again if m.startswith(("Installed ", "Resolving ", "Building "))], again
    assert any("already installed; reusing it (nothing installed)" in m for m in again)
    assert any("already built; reusing its wheel" in m for m in again)


def test_the_job_requirement_wins_over_the_base(dep_service: ServiceProcess, tmp_path: Path) -> None:
    import importlib.metadata

    have = importlib.metadata.version("packaging")
    sdist = trainer_sdist(tmp_path, "wantspackaging", "import packaging, sys\nprint('packaging', packaging.__version__,"
                          " packaging.__file__, flush=True)\n", requires=[f"packaging!={have}"])
    job, lines = _run(dep_service, sdist)
    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    (ran,) = [m for m in lines if m.startswith("packaging ")]
    assert not ran.startswith(f"packaging {have} ") and str(dep_service.data_dir) in ran


def test_a_requirement_the_index_does_not_have_fails_in_preparing(dep_service: ServiceProcess,
                                                                  tmp_path: Path) -> None:
    sdist = trainer_sdist(tmp_path, "needsmissing", "print('never runs')\n",
                          requires=["nosuchdist-trainjobs-e>=1.0", "pytest"])
    job, lines = _run(dep_service, sdist)

    assert job["state"] == "FAILED" and "startTime" not in job  # never reached RUNNING
    message = job["errorMessage"]
    assert message.startswith("packageUris: the requirements of needsmissing-0.1-py3-none-any.whl could not be")
    assert "nosuchdist-trainjobs-e" in message and "not found in the package registry" in message
    assert "pytest" not in message.split("Resolving")[0]  # the base has it: not resolved
    assert "never runs" not in "\n".join(lines)


def test_offline_uses_the_cache_and_names_what_is_missing(dep_service: ServiceProcess,
                                                          offline_service: ServiceProcess, inflection_sdist: Path,
                                                          tmp_path: Path) -> None:
    assert _run(dep_service, inflection_sdist)[0]["state"] == "SUCCEEDED"  # inflection is in the uv cache now

    cached, lines = _run(offline_service, inflection_sdist)
    assert cached["state"] == "SUCCEEDED", cached.get("errorMessage")
    assert any("(offline: only the cache)" in m for m in lines)

    sdist = trainer_sdist(tmp_path, "needsuncached", "print('never runs')\n", requires=["iso8601"])
    job, _ = _run(offline_service, sdist)
    assert job["state"] == "FAILED"
    assert "offline: only packages already in the cache can be installed" in job["errorMessage"]
    assert "iso8601 was not found in the cache" in job["errorMessage"]



def test_a_runtime_version_runs_on_the_interpreter_serve_names(tmp_path_factory: pytest.TempPathFactory,
                                                               uv_cache: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    runtime = tmp_path / "runtime-9.9"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(runtime)], check=True)
    (site,) = runtime.glob("lib/python*/site-packages")
    (site / "runtime_marker.py").write_text("FRAMEWORK = 'the runtime framework'\n")
    sdist = trainer_sdist(tmp_path, "onruntime", "import runtime_marker\nprint('ran with', runtime_marker.FRAMEWORK,"
                          " flush=True)\n")
    service_iter = _service(tmp_path_factory, uv_cache, "--runtime", f"9.9={runtime / 'bin' / 'python'}")
    service = next(service_iter)
    try:
        job, lines = _run(service, sdist, runtimeVersion="9.9")
        other, _ = _run(service, sdist, runtimeVersion="2.11")
    finally:
        service_iter.close()
    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    assert "ran with the runtime framework" in lines
    assert any(m.startswith("runtimeVersion 9.9: the trainer runs on the runtime") for m in lines)
    assert other["state"] == "FAILED" and "No module named 'runtime_marker'" in other["errorMessage"]


@pytest.mark.parametrize(("value", "why"), [("2.11", "expected VERSION=PATH-TO-PYTHON"),
                                            ("2.11=/nonexistent/python", "is not an executable file")])
def test_a_bad_runtime_option_stops_serve_with_one_line(tmp_path: Path, value: str, why: str) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "airflow_provider_trainjobs.local", "serve", "--data-dir",
                           str(tmp_path), "--runtime", value], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"trainjobs-local: --runtime {value!r}: " + (
        why if "=" not in value else f"{value.split('=', 1)[1]} {why}")]
