"""Connection settings and credentials shared by every hook of this provider.

One Airflow connection (default ``google_cloud_default``) says where the APIs are and who we are:
the Google provider's extras (``project``, ``key_path``, ``keyfile_dict``) plus this provider's
(``backend``, ``api_endpoint``, ``storage_endpoint``, ``logging_endpoint``, ``region``).
Google client libraries are imported inside methods so DAG files that import operators stay cheap.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

DEFAULT_CONN_ID = "google_cloud_default"
# What a create does when the job id exists with another spec (TrainingJobHook.create_job, the operators).
ON_CONFLICT = ("attach", "fail", "suffix")
_EXTRA_PREFIXES = ("", "extra__trainjobs__", "extra__google_cloud_platform__")
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
log = logging.getLogger(__name__)


def impersonation_chain_of(chain: str | Sequence[str] | None, *, what: str = "impersonation_chain"
                           ) -> tuple[str, ...]:
    """``impersonation_chain`` as a tuple of service accounts, the last one the target (Google's rule).

    A string is one account; a sequence is a chain in which each account grants the Token Creator role to
    the one before it, the first to the caller. Whitespace is stripped; None, ``""`` and ``[]`` mean none.
    Raises ValueError naming the entry that is not a service account email.
    """
    if chain is None:
        return ()
    entries = [chain] if isinstance(chain, str) else list(chain)
    if isinstance(chain, str) and not chain.strip():
        return ()
    accounts: list[str] = []
    for index, entry in enumerate(entries):
        text = entry.strip() if isinstance(entry, str) else ""
        label = what if isinstance(chain, str) else f"{what}[{index}]"
        if "@" not in text or any(c.isspace() for c in text):
            raise ValueError(f"{label}: must be a service account email (name@project.iam.gserviceaccount.com); "
                             f"got {entry!r}")
        accounts.append(text)
    return tuple(accounts)


def _is_loopback(url: str | None) -> bool:
    if not url:
        return False
    host = urlparse(url if "://" in url else f"http://{url}").hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass(frozen=True)
class ConnectionSettings:
    """What a hook needs from the connection; ``keyfile_dict`` is excluded from ``repr``."""

    project_id: str | None = None
    backend: str = "ai-platform"
    region: str | None = None
    api_endpoint: str | None = None
    storage_endpoint: str | None = None
    logging_endpoint: str | None = None
    executor_image_uri: str | None = None
    impersonation_chain: tuple[str, ...] = ()
    key_path: str | None = None
    keyfile_dict: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def is_local(self) -> bool:
        """True when the endpoints point at a service on this machine (anonymous credentials)."""
        return _is_loopback(self.api_endpoint) or (
            self.api_endpoint is None and _is_loopback(self.storage_endpoint)
        )


def settings_from_extras(extras: dict[str, Any]) -> ConnectionSettings:
    """Build settings from a connection's extras, accepting the ``extra__<type>__`` prefixed forms."""

    def get(key: str) -> Any:
        for prefix in _EXTRA_PREFIXES:
            value = extras.get(prefix + key)
            if value not in (None, ""):
                return value
        return None

    keyfile = get("keyfile_dict")
    if isinstance(keyfile, str):
        try:
            keyfile = json.loads(keyfile)
        except ValueError:
            raise ValueError("connection extra 'keyfile_dict' is not valid JSON") from None
    # Imported here, not at module level: the spec package is too heavy to load while a DAG file is parsed.
    from airflow_provider_trainjobs.spec.validation import BACKENDS

    backend = str(get("backend") or "ai-platform")
    if backend not in BACKENDS:
        raise ValueError(f"connection extra 'backend' must be one of {', '.join(BACKENDS)}; got {backend!r}")
    api_endpoint = get("api_endpoint")
    chain = get("impersonation_chain")
    if isinstance(chain, str):  # the connection form's field: comma-separated, as in Google's provider
        chain = [part for part in (p.strip() for p in chain.split(",")) if part]
    # The local service answers Cloud Logging on its API port; Google's APIs never share a host.
    logging_endpoint = get("logging_endpoint") or (api_endpoint if _is_loopback(api_endpoint) else None)
    return ConnectionSettings(
        project_id=get("project") or get("project_id"),
        backend=backend,
        region=get("region"),
        api_endpoint=api_endpoint,
        storage_endpoint=get("storage_endpoint"),
        logging_endpoint=logging_endpoint,
        executor_image_uri=get("executor_image_uri"),
        impersonation_chain=impersonation_chain_of(chain, what="connection extra 'impersonation_chain'"),
        key_path=get("key_path"),
        keyfile_dict=keyfile,
    )


class TrainJobsBaseHook(BaseHook):
    """Reads the connection once and hands out credentials; the base of the staging/training/log hooks.

    A missing connection is not an error: Application Default Credentials and the public Google
    endpoints are used, as ``gcloud`` would.
    """

    conn_name_attr = "gcp_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "trainjobs"
    hook_name = "Training Jobs (AI Platform / Vertex AI / local)"

    def __init__(
        self,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        *,
        project_id: str | None = None,
        backend: str | None = None,
        region: str | None = None,
        impersonation_chain: str | Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.gcp_conn_id = gcp_conn_id
        self._project_override = project_id
        self._backend_override = backend
        self._region_override = region
        self._impersonation_override = impersonation_chain_of(impersonation_chain)
        self._settings: ConnectionSettings | None = None

    def _apply_overrides(self, settings: ConnectionSettings) -> ConnectionSettings:
        from dataclasses import replace

        from airflow_provider_trainjobs.spec.validation import BACKENDS

        backend = self._backend_override or settings.backend
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        return replace(
            settings,
            project_id=self._project_override or settings.project_id,
            backend=backend,
            region=self._region_override or settings.region,
            impersonation_chain=self._impersonation_override or settings.impersonation_chain,
        )

    def use_region(self, region: str) -> None:
        """Address ``region`` from now on (the region a job body names), keeping the settings already read.

        For the operators, which learn the job's region from its config only after reading the connection.
        """
        if region == self._region_override:
            return
        self._region_override = region
        if self._settings is not None:
            from dataclasses import replace

            self._settings = replace(self._settings, region=region)

    @property
    def settings(self) -> ConnectionSettings:
        """The connection's settings with this hook's overrides applied (read once per hook)."""
        if self._settings is None:
            try:
                extras = self.get_connection(self.gcp_conn_id).extra_dejson
            except AirflowNotFoundException:
                extras = {}
            self._settings = self._apply_overrides(settings_from_extras(extras))
        return self._settings

    async def aget_settings(self) -> ConnectionSettings:
        """Async twin of :attr:`settings` for triggers (no sync DB access inside the event loop)."""
        if self._settings is None:
            try:
                conn = await self.aget_connection(self.gcp_conn_id)
                extras = conn.extra_dejson
            except AirflowNotFoundException:
                extras = {}
            self._settings = self._apply_overrides(settings_from_extras(extras))
        return self._settings

    @property
    def project_id(self) -> str:
        """The project every call addresses: the connection's, else the environment's or ADC's."""
        settings = self.settings
        project = settings.project_id or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not project and not settings.is_local and not (settings.keyfile_dict or settings.key_path):
            project = _adc_project()
        if not project:
            raise ValueError(
                f"no project: set the 'project' extra on connection {self.gcp_conn_id!r} or pass project_id"
            )
        return project

    def get_credentials(self) -> Credentials:
        """Anonymous credentials for a local endpoint, else the connection's key, else ADC."""
        return credentials_for(self.settings)


def _adc_project() -> str | None:
    """The project Application Default Credentials name, if any (gcloud's configured project)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        _, project = google.auth.default()  # type: ignore[no-untyped-call]
    except DefaultCredentialsError:
        return None
    return str(project) if project else None


def credentials_for(settings: ConnectionSettings) -> Credentials:
    """Resolve credentials without ever logging them (shared by the sync and async paths).

    Anonymous for a local endpoint, else the connection's key, else ADC; with an ``impersonation_chain``
    those are the source credentials of google-auth's impersonated credentials for the chain's last account
    (the others are its delegates), as Google's provider does. The local service needs no identity: there the
    chain is only logged.
    """
    chain = settings.impersonation_chain
    if settings.is_local:
        from google.auth.credentials import AnonymousCredentials

        if chain:
            log.info("impersonation_chain %s recorded; the local service takes anonymous requests, so it is not "
                     "used", " -> ".join(chain))
        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    source = _source_credentials(settings)
    if not chain:
        return source
    from google.auth import impersonated_credentials

    return impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
        source_credentials=source, target_principal=chain[-1], delegates=list(chain[:-1]) or None,
        target_scopes=list(SCOPES),
    )


def _source_credentials(settings: ConnectionSettings) -> Credentials:
    """The connection's key (``keyfile_dict``, else ``key_path``), else Application Default Credentials."""
    scopes = list(SCOPES)
    if settings.keyfile_dict:
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            settings.keyfile_dict, scopes=scopes
        )
    if settings.key_path:
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            settings.key_path, scopes=scopes
        )
    import google.auth

    credentials, _ = google.auth.default(scopes=scopes)  # type: ignore[no-untyped-call]
    return credentials
