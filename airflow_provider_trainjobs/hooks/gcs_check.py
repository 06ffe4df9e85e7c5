"""Check the ``gs://`` entries of ``packages`` before a job is created: each exists and can be read.

One metadata GET per URI. A missing object fails staging with one error naming the URI (the job would otherwise
fail later, in PREPARING); an endpoint that does not answer fails naming the endpoint. Credentials that may not
read an object (403) cannot check it: that URI is passed through and logged as not checked, because on Google
Cloud it is the job's service account, not the worker's, that reads ``packageUris``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.staging_plan import StagingError, split_gs

if TYPE_CHECKING:
    from google.cloud.storage import Client

__all__ = ["CHECK_TIMEOUT_SECONDS", "check_gcs_packages"]

# Total time the client may spend retrying one check (an endpoint that is down fails in this, not in 120 s).
CHECK_TIMEOUT_SECONDS = 20.0
_PUBLIC_ENDPOINT = "https://storage.googleapis.com"


def check_gcs_packages(client: Client, uris: Sequence[str], *, endpoint: str | None, log: Any) -> None:
    """Look up every ``gs://`` URI once and log what was found; raise StagingError for a missing one.

    ``log`` is the hook's logger (Airflow's structured one or a :class:`logging.Logger`)."""
    from google.api_core.exceptions import Forbidden, GoogleAPIError, Unauthorized
    from google.cloud.storage.retry import DEFAULT_RETRY
    from requests.exceptions import RequestException

    retry = DEFAULT_RETRY.with_timeout(CHECK_TIMEOUT_SECONDS)
    where = endpoint or _PUBLIC_ENDPOINT
    for uri in uris:
        bucket, name = split_gs(uri, "packages", object_required=True)
        try:
            blob = client.bucket(bucket).get_blob(name, retry=retry, timeout=CHECK_TIMEOUT_SECONDS)
        except (Forbidden, Unauthorized) as err:
            log.warning("%s passed through, not checked: the connection's credentials may not read it (%s); the "
                        "job's service account must be able to", uri, getattr(err, "code", err))
            continue
        except (GoogleAPIError, RequestException) as err:
            raise StagingError(
                f"packages: cannot check {uri}: the storage endpoint {where} did not answer ({type(err).__name__}: "
                f"{err}); StagingHook(check_gcs_packages=False) passes gs:// packages through unchecked"
            ) from err
        if blob is None:
            raise StagingError(
                f"packages: {uri} does not exist (or its bucket does not) at {where}; the job would fail when it "
                "installs its packages, so nothing was uploaded or submitted"
            )
        log.info("%s is in Cloud Storage (%s bytes): passed through", uri, blob.size)
