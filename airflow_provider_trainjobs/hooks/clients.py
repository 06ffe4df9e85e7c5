"""Discovery clients built once per process, and the HTTP objects their requests go through.

A discovery ``Resource`` is built from the discovery document shipped in googleapiclient (``aiplatform`` v1's
is megabytes of JSON), so building one per hook and per thread cost CPU and memory with every waiting job.
Here one ``Resource`` per (api, version, endpoint) serves the whole process: it never sends anything itself
(its own http refuses), each hook binds its requests to an :class:`HttpPool` of its own credentials.
httplib2 objects are not thread-safe, so a pool lends each request an ``AuthorizedHttp`` no other thread
holds, and takes it back (with its keep-alive connection) afterwards.

The transport never re-sends a request that is not idempotent: httplib2 re-sends any method once when a
connection drops before the answer (its "stale connection" retry), which made a lost answer to a Vertex
create into a second job. ``OneShotHttp`` lets a POST fail instead, so the hook can look the job up
before it sends the create again.
"""

from __future__ import annotations

import functools
import http.client
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

# Methods httplib2 may safely send twice (RFC 9110 section 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

_lock = threading.Lock()
_services: dict[tuple[str, str, str | None], Any] = {}
builds = 0  # discovery clients built by this process (tests and benchmarks read it)


def service(name: str, version: str, endpoint: str | None) -> Any:
    """The process's discovery ``Resource`` for ``name`` ``version`` at ``endpoint``, built on first use."""
    key = (name, version, endpoint)
    found = _services.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _services:
            from googleapiclient.discovery import build

            global builds
            _services[key] = build(name, version, http=_Unbound(), static_discovery=True, cache_discovery=False,
                                   client_options={"api_endpoint": endpoint} if endpoint else None)
            builds += 1
        return _services[key]


class _Unbound:
    """The shared Resource's own http: using it is a bug (requests must go through a hook's pool)."""

    credentials = None

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a shared discovery client sent a request without a hook's http (use Bound)")

    def close(self) -> None:
        """Nothing to close: the connections belong to the hooks' pools."""


def new_http(credentials: Credentials, timeout: float) -> Any:
    """An ``AuthorizedHttp`` over an httplib2 ``Http`` that sends a non-idempotent request at most once."""
    import google_auth_httplib2

    return google_auth_httplib2.AuthorizedHttp(credentials, http=_one_shot_http_class()(timeout=timeout))


@functools.cache
def _one_shot_http_class() -> type[Any]:
    """httplib2's ``Http`` whose non-idempotent requests go through :class:`_NoResend` connections."""
    import httplib2

    class OneShotHttp(httplib2.Http):  # type: ignore[misc]
        def _conn_request(self, conn: Any, request_uri: str, method: str, body: Any, headers: Any) -> Any:
            if method.upper() not in IDEMPOTENT_METHODS:
                conn = _NoResend(conn)
            return super()._conn_request(conn, request_uri, method, body, headers)

    return OneShotHttp


class _NoResend:
    """A connection whose lost answer is a plain connection error, not httplib2's cue to send again.

    httplib2 re-sends on ``BadStatusLine``/``ResponseNotReady`` from the first ``getresponse()`` (and, with a
    higher ``httplib2.RETRIES``, on an ``HTTPException`` while sending): either may come after the server
    has processed the request.
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._conn.request(*args, **kwargs)
        except http.client.HTTPException as err:
            raise ConnectionAbortedError(f"sending the request failed ({err!r}); not sent again") from err

    def getresponse(self) -> Any:
        try:
            return self._conn.getresponse()
        except (http.client.BadStatusLine, http.client.ResponseNotReady) as err:
            raise ConnectionResetError(
                f"the connection dropped before the answer ({err!r}); the request may have been processed, "
                "so it is not sent again") from err


class HttpPool:
    """``AuthorizedHttp`` objects for one set of credentials, each lent to one request at a time.

    Has the ``request`` method of an http object, so a ``Bound`` client (and a test) can use it as one.
    """

    def __init__(self, credentials: Credentials, timeout: float) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self.created = 0

    def request(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            lent = self._idle.pop() if self._idle else None
        if lent is None:
            lent = new_http(self.credentials, self.timeout)
            with self._lock:
                self.created += 1
        try:
            return lent.request(*args, **kwargs)
        finally:
            with self._lock:
                self._idle.append(lent)

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for each in idle:
            each.close()


class Bound:
    """A shared ``Resource`` (or one of its sub-resources) whose requests go through ``http``."""

    def __init__(self, resource: Any, http: Any) -> None:
        self._resource = resource
        self._http = http

    @property
    def base_url(self) -> str:
        """The root URL the requests go to (``https://ml.googleapis.com/`` or the endpoint given)."""
        return str(getattr(self._resource, "_baseUrl", ""))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._resource, name)
        if not callable(attr):
            return attr

        def bound(*args: Any, **kwargs: Any) -> Any:
            from googleapiclient.discovery import Resource
            from googleapiclient.http import HttpRequest

            result = attr(*args, **kwargs)
            if isinstance(result, HttpRequest):
                result.http = self._http
            elif isinstance(result, Resource):
                return Bound(result, self._http)
            return result

        return bound
