"""The HTTP front of the storage emulator: the service's caller checks and limits, then the package's router.

Each request is checked (Host, Origin, ``Sec-Fetch-Site``), its body read within ``max_upload_bytes``
(chunked and gzip/deflate bodies too, decoded here with the same cap), bucket names checked, and only then
handed to ``gcp_storage_emulator``'s router with the body in memory. The router runs one request at a time
(its on-disk store is not thread-safe); anything it raises is answered in Google's JSON error shape.
"""

from __future__ import annotations

import io
import json
import re
import threading
import zlib
from typing import Any
from urllib.parse import unquote, urlsplit

from gcp_storage_emulator.server import HANDLERS, Router
from gcp_storage_emulator.server import RequestHandler as EmulatorHandler

from airflow_provider_trainjobs.local.errors import ApiError
from airflow_provider_trainjobs.local.front import FrontHandler, LoopbackServer
from airflow_provider_trainjobs.local.limits import Limits

BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_BUCKET_IN_PATH = re.compile(r"^(?:/upload|/download)?(?:/storage/v1)?/b/(?P<bucket>[^/]+)")
REFUSED_PATHS = ("/wipe",)  # the package's "delete everything" GET: no caller of the service needs it
# What a bad request makes the package's handlers raise; anything else is the emulator's own failure.
_BAD_REQUEST = (ValueError, KeyError, TypeError, AttributeError, IndexError, LookupError, EOFError, zlib.error,
                RecursionError, OverflowError)


def check_bucket(name: str, field: str) -> None:
    """400 unless ``name`` follows Cloud Storage's bucket-name rules (it names a directory on disk)."""
    if not BUCKET_RE.match(name) or ".." in name:
        raise ApiError(400, f"{field}: {name[:80]!r} is not a valid bucket name: 3 to 222 lowercase letters,"
                            " digits, '-', '_' and '.', starting and ending with a letter or digit")


class StorageServer(LoopbackServer):
    """The storage port: a LoopbackServer whose handlers share one emulator store."""

    def __init__(self, port: int, storage: Any, limits: Limits | None = None) -> None:
        self.storage = storage
        self.router_lock = threading.Lock()
        super().__init__(port, StorageHandler, limits)


class StorageHandler(FrontHandler, EmulatorHandler):
    server: StorageServer

    def __init__(self, *args: Any) -> None:
        server: StorageServer = args[2]
        EmulatorHandler.__init__(self, server.storage, *args)

    def max_body(self) -> int:
        return self.server.limits.max_upload_bytes

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _body(self) -> bytes:
        """The whole body within the cap, de-chunked and decompressed; the headers then describe it as sent
        plainly with a Content-Length (what the package's reader expects)."""
        chunked = (self.headers.get("Transfer-Encoding") or "").strip().lower() == "chunked"
        if chunked:
            data = self.read_chunked()
        else:
            del self.headers["Transfer-Encoding"]
            length = self.content_length()
            data = self.rfile.read(length) if length else b""
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if encoding in ("gzip", "deflate"):
            data = self._decompress(data, 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
        for name in ("Transfer-Encoding", "Content-Encoding", "Content-Length"):
            del self.headers[name]
        self.headers["Content-Length"] = str(len(data))
        return data

    def _decompress(self, data: bytes, wbits: int) -> bytes:
        decoder = zlib.decompressobj(wbits)
        try:
            plain = decoder.decompress(data, self.max_body() + 1)
        except zlib.error:
            raise ApiError(400, "Content-Encoding: the body is not valid compressed data") from None
        if len(plain) > self.max_body() or decoder.unconsumed_tail:
            raise ApiError(413, f"request body: over this service's limit of {self.max_body()} bytes once"
                                " decompressed", "INVALID_ARGUMENT")
        return plain

    def _check_names(self, method: str, data: bytes) -> None:
        path = unquote(urlsplit(self.path).path)
        if path in REFUSED_PATHS:
            raise ApiError(404, f"Not Found: {path!r} is not served by this storage emulator", "NOT_FOUND")
        if match := _BUCKET_IN_PATH.match(path):
            check_bucket(match["bucket"], "bucket")
        elif method == "POST" and path.rstrip("/") in ("/storage/v1/b", "/b"):  # bucket create
            try:
                name = json.loads(data or b"{}").get("name")
            except (ValueError, AttributeError, RecursionError):
                raise ApiError(400, "request body: must be a JSON Bucket resource") from None
            check_bucket(str(name or ""), "name")
        if "\0" in path:
            raise ApiError(400, "path: object names cannot contain a NUL character")
        routed = urlsplit(f"http://{self.headers.get('Host')}{self.path}").path  # what the package's router matches
        self._check_route(routed, self.headers.get("X-HTTP-Method-Override") or method)

    @staticmethod
    def _check_route(path: str, method: str) -> None:
        """404/405 in Google's shape for what the package's router would answer with an empty 501."""
        served = False
        for pattern, handlers in HANDLERS:
            if re.fullmatch(pattern, path):
                if method in handlers:
                    return
                served = True
                break
        if method == "POST" and path.endswith("/o") and "/b/" in path:  # uploads without the /upload prefix
            return
        if served:
            raise ApiError(405, f"Method not allowed: {method[:20]} {path[:200]}", "METHOD_NOT_ALLOWED")
        raise ApiError(404, f"Not Found: {path[:200]!r} is not served by this storage emulator", "NOT_FOUND")

    def _handle(self, method: str) -> None:
        try:
            self.check_caller()
            data = self._body()
            self._check_names(method, data)
        except ApiError as err:
            self.close_connection = True
            self.send_api_error(err)
            return
        original = self.rfile
        self.rfile = io.BytesIO(data)
        try:
            with self.server.router_lock:
                Router(self).handle(method)
        except OSError:  # the client went away mid-answer
            self.close_connection = True
        except _BAD_REQUEST as err:
            self.send_api_error(ApiError(400, f"the storage emulator cannot serve this request ({type(err).__name__})"))
        except Exception as err:  # noqa: BLE001 - answered in Google's shape; the front keeps serving
            self.send_api_error(ApiError(500, f"internal error in the storage emulator: {type(err).__name__}"))
        finally:
            self.rfile = original
