"""The [local] extra: a production worker needs none of it, and ``trainjobs-local`` says how to get it."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from airflow_provider_trainjobs.local.requirements import LOCAL_EXTRA_MODULES

REPO = Path(__file__).resolve().parent.parent.parent
BLOCK_ALL = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in LOCAL_EXTRA_MODULES)


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_hard_requirements_are_what_a_worker_needs_and_the_service_needs_the_extra() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert _names(project["dependencies"]) == {
        "apache-airflow", "google-api-python-client", "google-auth", "google-cloud-storage",
        "setuptools", "tenacity", "pyyaml", "packaging"}
    assert _names(project["optional-dependencies"]["local"]) == set(LOCAL_EXTRA_MODULES.values())


@pytest.mark.parametrize("command", ["serve", "up"])
def test_a_missing_extra_gives_one_message_saying_what_to_install(command: str, tmp_path: Path) -> None:
    code = BLOCK_ALL.replace("sys.modules['numpy'] = None\n", "").replace(
        "sys.modules['gcp_storage_emulator'] = None\n", "") + (
        "from airflow_provider_trainjobs.local.cli import main\n"
        f"raise SystemExit(main([{command!r}, '--data-dir', {str(tmp_path / 'svc')!r}, '--port', '1']))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr  # one line, no traceback
    assert "[local] extra" in lines[0] and "optuna, cloudml-hypertune are not installed" in lines[0]
    assert "pip install 'airflow-provider-trainjobs[local]'" in lines[0]
    assert not (tmp_path / "svc").exists()  # nothing started, nothing created


def test_the_worker_side_imports_without_the_extra() -> None:
    """Operators, hooks, sensors, triggers and the spec build a job with none of the local service's needs."""
    code = BLOCK_ALL + (
        "import airflow_provider_trainjobs.operators, airflow_provider_trainjobs.sensors\n"
        "import airflow_provider_trainjobs.triggers, airflow_provider_trainjobs.hooks.training\n"
        "import airflow_provider_trainjobs.hooks.staging, airflow_provider_trainjobs.hooks.logs\n"
        "import airflow_provider_trainjobs.packaging, airflow_provider_trainjobs.spec\n"
        "from airflow_provider_trainjobs import get_provider_info\n"
        "print(get_provider_info()['package-name'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "airflow-provider-trainjobs"
