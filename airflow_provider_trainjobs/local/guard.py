"""Who may talk to the local service: the checks every surface (API, storage emulator, console) applies.

A single-user development service on loopback: a request must name the service by a loopback ``Host``
with its port (DNS rebinding sends the attacker's name), and a browser request from any other origin is
refused (a web page the developer visits cannot create jobs or upload objects). Mutating API requests
with a body must be JSON, which a cross-origin form or ``no-cors`` fetch cannot send. The one exception is
googleapiclient's long GET: a POST with ``X-HTTP-Method-Override: GET`` and the query as a form body, which a
browser cannot send without a CORS preflight (the header is not safelisted) and which the Host, Origin and
Sec-Fetch-Site checks still meet first. ``/admin`` needs the token the service writes to
``<data-dir>/admin-token`` (mode 0600) at start.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from airflow_provider_trainjobs.local.errors import ApiError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
ADMIN_TOKEN_FILE = "admin-token"
MUTATING = ("POST", "PUT", "PATCH", "DELETE")
OVERRIDE_HEADER = "X-HTTP-Method-Override"
FORM = "application/x-www-form-urlencoded"
# Pages: no scripts, no external anything; inline CSS and SVG only (see page.py).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class Headers(Protocol):
    """Request headers: ``email.message.Message`` (http.server) or a plain dict."""

    def get(self, name: str, /) -> str | None: ...


def _loopback_authority(authority: str, port: int) -> bool:
    """True when ``authority`` is ``<loopback name>:<port>`` (the port may be left out only when it is 80)."""
    authority = authority.strip().lower()
    for name in LOOPBACK_NAMES:
        if authority == f"{name}:{port}" or (port == 80 and authority == name):
            return True
    return False


def check_host(headers: Headers, port: int) -> None:
    """403 unless ``Host`` names the service on loopback (defeats DNS rebinding)."""
    host = headers.get("Host")
    if host is None or not _loopback_authority(host, port):
        raise ApiError(403, f"Host: {host!r} is not this service; use http://127.0.0.1:{port}", "PERMISSION_DENIED")


def check_origin(headers: Headers, port: int) -> None:
    """403 when the request carries an ``Origin`` other than the service's own (a page elsewhere sent it)."""
    origin = headers.get("Origin")
    if origin is None:
        return
    try:
        parts = urlsplit(origin.strip())
        own = parts.scheme == "http" and not parts.path and _loopback_authority(parts.netloc, port)
    except ValueError:
        own = False
    if not own:
        raise ApiError(403, f"Origin: {origin!r} may not call this service (cross-origin requests are refused)",
                       "PERMISSION_DENIED")


def check_fetch_site(headers: Headers) -> None:
    """403 for a browser request another site's page made (``Sec-Fetch-Site``): even a GET, which carries
    no Origin, may change state on the storage emulator or read an answer through a rebinding."""
    site = (headers.get("Sec-Fetch-Site") or "none").strip().lower()
    if site not in ("same-origin", "none"):
        raise ApiError(403, f"Sec-Fetch-Site: {site!r}: requests made by other sites' pages are refused",
                       "PERMISSION_DENIED")


def check_json_body(method: str, headers: Headers, length: int) -> None:
    """415 when a mutating request has a body that is not declared ``application/json``."""
    if method not in MUTATING or length == 0:
        return
    kind = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, f"Content-Type: must be application/json for {method}; got {kind or 'none'!r}",
                       "INVALID_ARGUMENT")


def method_override(method: str, headers: Headers, length: int) -> str | None:
    """``"GET"`` for googleapiclient's long GET (a POST with ``X-HTTP-Method-Override: GET`` and a form body),
    None without the header; 400 for any other value or method, 415 for a body that is not a form."""
    value = headers.get(OVERRIDE_HEADER)
    if value is None:
        return None
    if method != "POST":
        raise ApiError(400, f"{OVERRIDE_HEADER}: only a POST may carry it; got it on a {method}")
    if value.strip() != "GET":
        raise ApiError(400, f"{OVERRIDE_HEADER}: only GET can be overridden; got {value.strip()[:40]!r}")
    kind = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if length and kind != FORM:
        raise ApiError(415, f"Content-Type: must be {FORM} with {OVERRIDE_HEADER}: GET; got {kind[:80] or 'none'!r}",
                       "INVALID_ARGUMENT")
    return "GET"


def create_admin_token(data_dir: Path) -> str:
    """A new random token in ``<data_dir>/admin-token`` (mode 0600, replaced atomically); returns it."""
    token = secrets.token_urlsafe(32)
    path = data_dir / ADMIN_TOKEN_FILE
    partial = data_dir / f".{ADMIN_TOKEN_FILE}.{os.getpid()}"
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.replace(partial, path)
    return token


def read_admin_token(data_dir: Path) -> str:
    """The token a running service wrote to its data dir (what test helpers and scripts send)."""
    return (data_dir / ADMIN_TOKEN_FILE).read_text().strip()


def check_admin_token(headers: Headers, token: str) -> None:
    """401 without ``Authorization: Bearer <token>``, 403 with a wrong token."""
    given = headers.get("Authorization") or ""
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, f"Authorization: /admin needs 'Bearer <token>'; the token is in the file"
                            f" {ADMIN_TOKEN_FILE} of the service's data dir", "UNAUTHENTICATED")
    if not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise ApiError(403, "Authorization: the admin token does not match", "PERMISSION_DENIED")
