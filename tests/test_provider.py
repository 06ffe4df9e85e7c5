"""The provider registers with Airflow through the entry point and its metadata is valid."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import jsonschema

import airflow_provider_trainjobs


def test_entry_point_returns_provider_info() -> None:
    eps = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_trainjobs")]
    assert len(eps) == 1
    info = eps[0].load()()
    assert info["package-name"] == "airflow-provider-trainjobs"
    assert info["versions"][0] == airflow_provider_trainjobs.__version__


def test_provider_info_matches_airflow_schema() -> None:
    import airflow

    schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(airflow_provider_trainjobs.get_provider_info(), schema)


def test_providers_manager_sees_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    assert "airflow-provider-trainjobs" in ProvidersManager().providers
    hook = ProvidersManagerTaskRuntime().hooks["trainjobs"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_trainjobs.hooks.base.TrainJobsBaseHook"
    assert hook.connection_id_attribute_name == "gcp_conn_id"


def test_dag_facing_modules_do_not_import_heavy_clients() -> None:
    """Importing and resolving every public operator/sensor/trigger must not load Google clients."""
    code = (
        "import sys\n"
        "import airflow_provider_trainjobs.operators as o, airflow_provider_trainjobs.sensors as s\n"
        "import airflow_provider_trainjobs.triggers as t\n"
        "for m in (o, s, t):\n"
        "    [getattr(m, n) for n in m.__all__]\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('googleapiclient', 'setuptools', 'optuna')"
        " or m.startswith('google.cloud')]\n"
        "print('HEAVY=' + ','.join(sorted(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY=")][0]
    assert line == "HEAVY=", f"heavy modules imported at DAG parse time: {line}"


def test_connection_form_fields_and_behaviour_are_registered() -> None:
    """Airflow 3.2+ builds the connection form from provider info, without importing UI code."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    behaviour = manager.field_behaviours["trainjobs"]
    assert {"host", "login", "password", "port", "schema"} <= set(behaviour["hidden_fields"])
    widgets = {k for k in manager.connection_form_widgets if k.startswith("extra__trainjobs__")}
    expected = {"project", "backend", "region", "api_endpoint", "storage_endpoint", "logging_endpoint",
                "executor_image_uri", "key_path", "keyfile_dict"}
    assert widgets == {f"extra__trainjobs__{name}" for name in expected}
    keyfile = manager.connection_form_widgets["extra__trainjobs__keyfile_dict"].field
    # a text area in Airflow 3's form (its FlexibleForm renders string + format "multiline" as <textarea>)
    assert keyfile["schema"]["format"] == "multiline" and keyfile["schema"]["title"] == "Keyfile JSON"


def test_the_keyfile_json_stays_masked_as_a_text_area() -> None:
    """A multi-line field is not a password input, so the secret must be masked by its name instead."""
    from airflow.sdk._shared.secrets_masker import should_hide_value_for_key

    assert should_hide_value_for_key("keyfile_dict")
    assert should_hide_value_for_key("extra__trainjobs__keyfile_dict")
