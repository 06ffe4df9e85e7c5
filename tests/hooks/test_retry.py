"""Retry policy: which errors are transient, bounded attempts, Google's message kept."""

from __future__ import annotations

import errno
import json
import socket
import ssl

import httplib2
import pytest
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import HttpError

from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError
from airflow_provider_trainjobs.hooks.retry import (
    CANCEL_RETRY_TOTAL,
    RetryPolicy,
    as_api_error,
    call_with_retries,
    is_network_error,
)

FAST = RetryPolicy(max_retries=3, initial=0.001, maximum=0.002, total=10)


def http_error(status: int, message: str, reason: str = "UNAVAILABLE") -> HttpError:
    body = json.dumps({"error": {"code": status, "message": message, "status": reason}}).encode()
    return HttpError(httplib2.Response({"status": status}), body)


class Flaky:
    """Raises the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.parametrize(
    "error",
    [http_error(429, "slow down", "RESOURCE_EXHAUSTED"), http_error(503, "try later"), http_error(500, "oops"),
     ConnectionResetError("reset"), TimeoutError("timed out"), ConnectionRefusedError("refused")],
)
def test_transient_errors_are_retried(error: BaseException) -> None:
    fn = Flaky(error, error)
    assert call_with_retries(fn, what="getting job j", policy=FAST) == "ok"
    assert fn.calls == 3


@pytest.mark.parametrize("status", [400, 403, 404, 409])
def test_other_http_errors_surface_at_once_with_googles_message(status: int) -> None:
    fn = Flaky(http_error(status, f"the server says {status}", "FAILED_PRECONDITION"))
    with pytest.raises(TrainingJobApiError) as info:
        call_with_retries(fn, what="getting job j", policy=FAST)
    assert fn.calls == 1
    assert info.value.status == status and not info.value.transient
    assert f"the server says {status}" in str(info.value) and "getting job j" in str(info.value)


def test_retries_are_bounded_and_the_last_error_is_raised() -> None:
    fn = Flaky(*[http_error(503, f"attempt {n}") for n in range(10)])
    with pytest.raises(TrainingJobApiError, match="attempt 3") as info:
        call_with_retries(fn, what="creating job j", policy=FAST)
    assert fn.calls == FAST.max_retries + 1
    assert info.value.transient and info.value.status == 503


def test_zero_retries_means_one_attempt() -> None:
    fn = Flaky(ConnectionResetError("reset"))
    with pytest.raises(TrainingJobApiError, match="connection error"):
        call_with_retries(fn, what="x", policy=RetryPolicy(max_retries=0))
    assert fn.calls == 1


def test_programming_errors_are_not_wrapped() -> None:
    with pytest.raises(KeyError):
        call_with_retries(Flaky(KeyError("k")), what="x", policy=FAST)


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(initial=1.0, maximum=8.0)
    assert 0.5 <= policy.delay(1) <= 1.0
    assert 2.0 <= policy.delay(3) <= 4.0
    assert 4.0 <= policy.delay(10) <= 8.0


@pytest.mark.parametrize(
    "error",
    [ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), ssl.SSLError(1, "bad record mac"),
     socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
     httplib2.ServerNotFoundError("Unable to find the server at ml.googleapis.com"),
     OSError(errno.EHOSTUNREACH, "No route to host"), OSError(errno.ENETUNREACH, "Network is unreachable"),
     TransportError("connection aborted while refreshing the token")],
)
def test_network_blips_below_http_are_transient(error: BaseException) -> None:
    assert is_network_error(error)
    translated = as_api_error(error, "getting job j")
    assert isinstance(translated, TrainingJobApiError) and translated.transient
    fn = Flaky(error, error)
    assert call_with_retries(fn, what="getting job j", policy=FAST) == "ok"
    assert fn.calls == 3


@pytest.mark.parametrize(
    "error",
    [FileNotFoundError(errno.ENOENT, "No such file", "/keys/sa.json"), PermissionError(errno.EACCES, "denied"),
     IsADirectoryError(errno.EISDIR, "is a directory"),
     ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate"),
     RefreshError("invalid_grant: account not found"), ValueError("bad")],
)
def test_local_and_credential_errors_are_not_retried(error: BaseException) -> None:
    assert not is_network_error(error)
    fn = Flaky(error)
    with pytest.raises(Exception) as info:
        call_with_retries(fn, what="getting job j", policy=FAST)
    assert fn.calls == 1
    assert not (isinstance(info.value, TrainingJobApiError) and info.value.transient)


def test_cancel_policy_fits_the_triggerers_on_kill_budget() -> None:
    from airflow.configuration import conf

    policy = RetryPolicy(max_retries=5, initial=1.0, maximum=30.0, total=300.0).for_cancel()
    assert policy.total == CANCEL_RETRY_TOTAL < conf.getint("triggerer", "on_kill_timeout", fallback=30)
    assert policy.maximum <= 5.0 and policy.max_retries == 5
    # a policy that is already tighter stays as it is
    tight = RetryPolicy(max_retries=1, initial=0.01, maximum=0.02, total=1.0)
    assert tight.for_cancel() == tight
