"""A tiny trainer, packaged as a real sdist and staged to the local service, for hook and trigger tests.

``python -m tinytrainer.task --lines N --sleep S --exit-code C`` prints N numbered lines, sleeps S
seconds, then exits with C (an error line on stderr first when C is not 0).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TASK = '''
import argparse
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--lines", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--exit-code", type=int, default=0)
args, _ = parser.parse_known_args()
for n in range(args.lines):
    print(f"tiny line {n + 1} of {args.lines}", flush=True)
time.sleep(args.sleep)
if args.exit_code:
    print("tiny trainer failing on purpose", file=sys.stderr, flush=True)
sys.exit(args.exit_code)
'''

SETUP = 'from setuptools import setup\nsetup(name="tinytrainer", version="0.1", packages=["tinytrainer"])\n'


def build_sdist(root: Path) -> Path:
    """Write the trainer's sources under ``root`` and build its sdist with setuptools."""
    src = root / "src"
    (src / "tinytrainer").mkdir(parents=True)
    (src / "tinytrainer" / "__init__.py").write_text("")
    (src / "tinytrainer" / "task.py").write_text(TASK)
    (src / "setup.py").write_text(SETUP)
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(root / "dist")],
                   cwd=src, check=True, capture_output=True)
    (sdist,) = (root / "dist").glob("*.tar.gz")
    return sdist


def stage(storage_endpoint: str, sdist: Path, bucket: str = "hook-tests") -> str:
    """Upload the sdist to the service's storage emulator with the real storage client."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="local-project", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": storage_endpoint})
    if client.lookup_bucket(bucket) is None:
        client.create_bucket(bucket)
    client.bucket(bucket).blob(f"packages/{sdist.name}").upload_from_filename(str(sdist))
    return f"gs://{bucket}/packages/{sdist.name}"


def unique_id(prefix: str) -> str:
    return f"{prefix}_{time.time_ns()}"


def tiny_job(job_id: str, package_uri: str, *, lines: int = 3, sleep: float = 0.0, exit_code: int = 0,
             **training: Any) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "labels": {"owner": "hook-tests"},
        "trainingInput": {
            "scaleTier": "BASIC",
            "packageUris": [package_uri],
            "pythonModule": "tinytrainer.task",
            "region": "us-central1",
            "args": ["--lines", str(lines), "--sleep", str(sleep), "--exit-code", str(exit_code)],
            **training,
        },
    }


def set_faults(api_endpoint: str, **settings: Any) -> dict[str, Any]:
    """Change the service's fault injection through its admin endpoint."""
    import urllib.request

    request = urllib.request.Request(f"{api_endpoint}/admin/faults", data=json.dumps(settings).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        result: dict[str, Any] = json.loads(resp.read())
        return result


@pytest.fixture(scope="session")
def tiny_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sdist(tmp_path_factory.mktemp("tinytrainer"))


@pytest.fixture
def tiny_package(local_conn: Any, tiny_sdist: Path) -> str:
    """gs:// URI of the tiny trainer staged on the session's local service (default connection set)."""
    return stage(local_conn.storage_endpoint, tiny_sdist)


@pytest.fixture
def no_faults(local_service: Any) -> Iterator[None]:
    """Leaves fault injection off after the test, whatever the test set."""
    yield
    set_faults(local_service.api_endpoint, error_rate=0.0, drop_rate=0.0, fail_next=0, latency=0.0,
               codes=[429, 500, 503])




def _root_conftest(config: pytest.Config) -> Any:
    """tests/conftest.py as pytest loaded it (a plain ``import conftest`` may find this directory's)."""
    root = Path(__file__).resolve().parent.parent / "conftest.py"
    for module in config.pluginmanager.get_plugins():
        if getattr(module, "__file__", None) and Path(module.__file__).resolve() == root:
            return module
    raise RuntimeError("tests/conftest.py is not loaded")


@pytest.fixture(scope="session")
def lenient_service(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Any]:
    """A second local service that enforces deadlines 1000x later, so the waiter's own deadline
    handling (not the service's) is what a test sees."""
    service = _root_conftest(pytestconfig).start_local_service(tmp_path_factory.mktemp("lenient") / "data", "--deadline-scale", "1000")
    try:
        yield service
    finally:
        service.proc.terminate()
        service.proc.wait(timeout=15)


@pytest.fixture
def lenient_conn(lenient_service: Any, tiny_sdist: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """Default connection set to the lenient service; returns (service, staged tiny trainer URI)."""
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", lenient_service.conn_json())
    return lenient_service, stage(lenient_service.storage_endpoint, tiny_sdist)


def vertex_routes_served(api_endpoint: str) -> bool:
    """Whether the local service answers the aiplatform v1 customJobs list route (probed once per session)."""
    import urllib.error
    import urllib.request

    url = f"{api_endpoint}/v1/projects/local-project/locations/us-central1/customJobs"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError:
        return False


@pytest.fixture(scope="session")
def vertex_available(local_service: Any) -> bool:
    return vertex_routes_served(local_service.api_endpoint)


@pytest.fixture(params=["ai-platform", "vertex"])
def backend_conn(request: pytest.FixtureRequest, local_service: Any, tiny_sdist: Path,
                 monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The default connection on the session's local service with each backend; returns (backend, package).

    The vertex case is skipped while the local service does not serve the aiplatform v1 routes."""
    backend: str = request.param
    if backend == "vertex" and not request.getfixturevalue("vertex_available"):
        pytest.skip("the local service does not serve the aiplatform v1 customJobs routes yet")
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", local_service.conn_json(backend))
    return backend, stage(local_service.storage_endpoint, tiny_sdist)


def backend_job(backend: str, job_id: str, package_uri: str, **kwargs: Any) -> dict[str, Any]:
    """``tiny_job`` plus, on Vertex, the runtime version that picks a prebuilt training container."""
    job = tiny_job(job_id, package_uri, **kwargs)
    if backend == "vertex":
        job["trainingInput"].update(runtimeVersion="2.8", pythonVersion="3.7")
    return job
