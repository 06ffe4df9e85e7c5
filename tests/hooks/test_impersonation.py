"""impersonation_chain: Google's semantics (a string is the target; in a chain the last one is), through
google-auth's impersonated credentials; on the local service it is recorded and logged, not used."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import impersonated_credentials
from google.auth.credentials import AnonymousCredentials
from google.oauth2 import service_account

from airflow_provider_trainjobs.hooks.base import (
    ConnectionSettings,
    TrainJobsBaseHook,
    credentials_for,
    impersonation_chain_of,
    settings_from_extras,
)

A, B, C = (f"{n}@proj.iam.gserviceaccount.com" for n in ("a", "b", "c"))


@pytest.fixture(scope="module")
def keyfile() -> dict[str, Any]:
    """A service account key (a fresh RSA key: nothing is ever signed or sent with it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": "proj", "private_key_id": "1", "private_key": pem,
            "client_email": "source@proj.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token"}


@pytest.mark.parametrize(("chain", "expected"), [
    (None, ()), ("", ()), ([], ()), (f" {A} ", (A,)), ([A, B, C], (A, B, C)), ((A,), (A,)),
])
def test_a_chain_is_a_tuple_whose_last_entry_is_the_target(chain: Any, expected: tuple[str, ...]) -> None:
    assert impersonation_chain_of(chain) == expected


@pytest.mark.parametrize(("chain", "message"), [
    ("not-an-email", r"impersonation_chain: must be a service account email .*'not-an-email'"),
    ([A, " "], r"impersonation_chain\[1\]: must be a service account email"),
    ([A, 3], r"impersonation_chain\[1\]: must be a service account email .* got 3"),
    ("a b@proj.iam.gserviceaccount.com", r"impersonation_chain: must be a service account email"),
])
def test_a_bad_entry_is_refused_naming_it(chain: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        impersonation_chain_of(chain)


def test_one_account_is_impersonated_directly(keyfile: dict[str, Any]) -> None:
    credentials = credentials_for(ConnectionSettings(keyfile_dict=keyfile, impersonation_chain=(A,)))
    assert isinstance(credentials, impersonated_credentials.Credentials)
    assert credentials.service_account_email == A
    assert not credentials._delegates
    assert isinstance(credentials._source_credentials, service_account.Credentials)
    assert credentials._source_credentials.service_account_email == "source@proj.iam.gserviceaccount.com"


def test_a_chain_impersonates_its_last_account_through_the_others(keyfile: dict[str, Any]) -> None:
    credentials = credentials_for(ConnectionSettings(keyfile_dict=keyfile, impersonation_chain=(A, B, C)))
    assert isinstance(credentials, impersonated_credentials.Credentials)
    assert credentials.service_account_email == C
    assert credentials._delegates == [A, B]
    assert credentials._target_scopes == ["https://www.googleapis.com/auth/cloud-platform"]


def test_without_a_chain_the_key_itself_is_used(keyfile: dict[str, Any]) -> None:
    assert isinstance(credentials_for(ConnectionSettings(keyfile_dict=keyfile)), service_account.Credentials)


def test_the_connection_extra_is_comma_separated_and_the_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_from_extras({"impersonation_chain": f"{A}, {B}"}).impersonation_chain == (A, B)
    extras = {"project": "p", "impersonation_chain": A}
    monkeypatch.setenv("AIRFLOW_CONN_IMP", json.dumps({"conn_type": "trainjobs", "extra": extras}))
    assert TrainJobsBaseHook("imp").settings.impersonation_chain == (A,)
    assert TrainJobsBaseHook("imp", impersonation_chain=[B, C]).settings.impersonation_chain == (B, C)


def test_on_the_local_service_the_chain_is_recorded_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    settings = ConnectionSettings(api_endpoint="http://127.0.0.1:9", impersonation_chain=(A, B))
    with caplog.at_level(logging.INFO):
        credentials = credentials_for(settings)
    assert isinstance(credentials, AnonymousCredentials)
    assert f"impersonation_chain {A} -> {B} recorded; the local service takes anonymous requests" in caplog.text
