"""Which API failures are worth retrying, and the bounded exponential backoff with jitter used for them.

Throttling (429), server errors (5xx) and network failures (dropped/refused/timed-out connections,
DNS and TLS blips, unreachable hosts) are transient; everything else (400, 403, 404, 409, a bad
certificate, a missing local file, ...) is returned to the caller at once.
"""

from __future__ import annotations

import http.client
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError

T = TypeVar("T")
log = logging.getLogger(__name__)

# Errors raised below the HTTP layer when a connection is refused, reset, dropped or times out.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, http.client.HTTPException)
# OSErrors that describe this machine (a file, a permission, a certificate it rejects), not the
# network: a retry cannot cure them. Every other OSError on a call (socket.gaierror, ssl.SSLEOFError,
# EHOSTUNREACH, ENETUNREACH, ...) comes from the network and is transient.
LOCAL_OS_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    ssl.SSLCertVerificationError,
)
# Cancelling must finish inside the triggerer's on_kill budget ([triggerer] on_kill_timeout, 30s
# by default in Airflow 3.3): its retries stop after this many seconds and back off at most CANCEL_MAX_DELAY.
CANCEL_RETRY_TOTAL = 20.0
CANCEL_MAX_DELAY = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry one call: at most ``max_retries`` retries, and never past ``total`` seconds."""

    max_retries: int = 5
    initial: float = 1.0
    maximum: float = 30.0
    total: float = 300.0

    def delay(self, attempt: int) -> float:
        """Backoff before retry number ``attempt`` (1-based): exponential, capped, with full jitter."""
        ceiling = min(self.maximum, self.initial * (2 ** max(0, attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)

    def for_cancel(self) -> RetryPolicy:
        """The same policy bounded to fit a triggerer's on_kill (at most ``CANCEL_RETRY_TOTAL`` seconds)."""
        return RetryPolicy(self.max_retries, min(self.initial, CANCEL_MAX_DELAY),
                           min(self.maximum, CANCEL_MAX_DELAY), min(self.total, CANCEL_RETRY_TOTAL))


def is_network_error(err: BaseException) -> bool:
    """True for a failure of the network below HTTP: connections, DNS, TLS, unreachable hosts."""
    if isinstance(err, CONNECTION_ERRORS):
        return True
    if isinstance(err, OSError):
        return not isinstance(err, LOCAL_OS_ERRORS)
    import httplib2
    from google.auth.exceptions import TransportError

    # httplib2 turns a failed DNS lookup into ServerNotFoundError; google-auth wraps a network
    # failure while refreshing a token in TransportError.
    return isinstance(err, httplib2.ServerNotFoundError | TransportError)


def as_api_error(err: BaseException, what: str) -> BaseException:
    """Translate an HttpError or a connection failure into ``TrainingJobApiError``; others unchanged."""
    if isinstance(err, TrainingJobApiError):
        return err
    if is_network_error(err):
        return TrainingJobApiError(f"{what} failed: connection error: {err!r}", transient=True)
    from googleapiclient.errors import HttpError

    if isinstance(err, HttpError):
        return TrainingJobApiError.from_http_error(err, what)
    return err


def is_transient(err: BaseException) -> bool:
    """True for the failures a retry may cure (see the module docstring)."""
    return isinstance(err, TrainingJobApiError) and err.transient


def call_with_retries(fn: Callable[[], T], *, what: str, policy: RetryPolicy) -> T:
    """Run ``fn`` retrying transient failures per ``policy``; raise the last error as ``TrainingJobApiError``."""
    import tenacity

    def before_sleep(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        err = outcome.exception() if outcome is not None else None
        log.warning("%s: transient error (attempt %d of %d), retrying: %s",
                    what, state.attempt_number, policy.max_retries + 1, err)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        stop=tenacity.stop_after_attempt(policy.max_retries + 1) | tenacity.stop_before_delay(policy.total),
        wait=lambda state: policy.delay(state.attempt_number),
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(call_translated, fn, what)


def call_translated(fn: Callable[[], T], what: str) -> T:
    """Run ``fn`` once; an HTTP error it raises comes out as ``TrainingJobApiError`` (others unchanged)."""
    try:
        return fn()
    except Exception as err:
        translated = as_api_error(err, what)
        if translated is err:
            raise
        raise translated from err
