"""Connection settings: extras, prefixes, overrides, credentials choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

from airflow_provider_trainjobs.hooks.base import ConnectionSettings, TrainJobsBaseHook, settings_from_extras


def test_plain_and_prefixed_extras() -> None:
    settings = settings_from_extras(
        {"extra__google_cloud_platform__project": "p1", "backend": "vertex", "api_endpoint": "http://127.0.0.1:9"}
    )
    assert settings.project_id == "p1"
    assert settings.backend == "vertex"
    assert settings.logging_endpoint == "http://127.0.0.1:9"  # defaults to the API endpoint
    assert settings.is_local


def test_bad_backend_names_the_extra() -> None:
    with pytest.raises(ValueError, match="'backend' must be one of ai-platform, vertex"):
        settings_from_extras({"backend": "sagemaker"})


def test_keyfile_dict_is_not_in_repr() -> None:
    settings = settings_from_extras({"keyfile_dict": json.dumps({"private_key": "SECRET-VALUE"})})
    assert settings.keyfile_dict == {"private_key": "SECRET-VALUE"}
    assert "SECRET-VALUE" not in repr(settings)


def test_logging_defaults_to_the_api_endpoint_only_for_the_local_service() -> None:
    assert settings_from_extras({"api_endpoint": "http://127.0.0.1:9"}).logging_endpoint == "http://127.0.0.1:9"
    remote = settings_from_extras({"api_endpoint": "https://europe-west4-aiplatform.googleapis.com"})
    assert remote.logging_endpoint is None  # Cloud Logging is not served by the Vertex regional host
    explicit = settings_from_extras({"api_endpoint": "https://x.example", "logging_endpoint": "https://l.example"})
    assert explicit.logging_endpoint == "https://l.example"


def test_executor_image_extra() -> None:
    image = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest"
    assert settings_from_extras({"extra__trainjobs__executor_image_uri": image}).executor_image_uri == image


def test_remote_endpoint_is_not_local() -> None:
    assert not ConnectionSettings(api_endpoint="https://ml.googleapis.com").is_local
    assert ConnectionSettings(storage_endpoint="http://localhost:1").is_local


def test_hook_reads_connection_and_applies_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    extras = {"project": "from-conn", "api_endpoint": "http://127.0.0.1:1", "region": "europe-west1"}
    monkeypatch.setenv("AIRFLOW_CONN_MY_CONN", json.dumps({"conn_type": "trainjobs", "extra": extras}))
    hook = TrainJobsBaseHook("my_conn", project_id="override", backend="vertex")
    assert hook.project_id == "override"
    assert hook.settings.backend == "vertex"
    assert hook.settings.region == "europe-west1"
    assert isinstance(hook.get_credentials(), AnonymousCredentials)


def test_missing_connection_falls_back_without_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))  # no ADC here
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    hook = TrainJobsBaseHook("does_not_exist")
    assert hook.settings == ConnectionSettings()
    with pytest.raises(ValueError, match="no project"):
        _ = hook.project_id


@pytest.mark.asyncio
async def test_async_settings_match_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    extras = {"project": "p2", "storage_endpoint": "http://127.0.0.1:2"}
    monkeypatch.setenv("AIRFLOW_CONN_ASYNC_CONN", json.dumps({"conn_type": "trainjobs", "extra": extras}))
    settings = await TrainJobsBaseHook("async_conn").aget_settings()
    assert settings == TrainJobsBaseHook("async_conn").settings


def test_project_comes_from_adc_when_the_connection_has_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no project on the connection, the project of Application Default Credentials is used."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = {
        "type": "service_account", "project_id": "adc-project", "private_key_id": "1",
        "private_key": pem.decode(), "client_email": "sa@adc-project.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path / "adc.json"
    path.write_text(json.dumps(key))
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    assert TrainJobsBaseHook("does_not_exist").project_id == "adc-project"
