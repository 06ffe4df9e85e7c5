"""Raw HTTP to a local service: any verb, header and body, and the answer parsed without a client library."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self) -> dict[str, Any]:
        """The ``error`` object of Google's error answer (fails when the body is not that shape)."""
        error = self.json()["error"]
        assert set(error) == {"code", "message", "status"} and error["code"] == self.status, error
        return dict(error)


def host_port(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint)
    return parts.hostname or "127.0.0.1", int(parts.port or 80)


def request(endpoint: str, method: str, path: str, body: bytes | str | None = None,
            headers: dict[str, str] | None = None, timeout: float = 30) -> Answer:
    """One request on a new connection; ``Content-Type: application/json`` unless ``headers`` say otherwise."""
    host, port = host_port(endpoint)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    data = body.encode() if isinstance(body, str) else body
    sent = {"Content-Type": "application/json"} if data else {}
    sent.update(headers or {})
    try:
        conn.request(method, path, body=data, headers=sent)
        resp = conn.getresponse()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def raw_exchange(endpoint: str, data: bytes, timeout: float = 30) -> bytes:
    """Send ``data`` as-is on a new connection and read until the server closes it (or ``timeout``)."""
    with socket.create_connection(host_port(endpoint), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def parse_raw(answer: bytes) -> Answer:
    """The first HTTP answer in ``answer`` (bytes read from a socket)."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", len(body)))
    return Answer(status, headers, body[:length])
