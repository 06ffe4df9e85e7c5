"""front.py: every surface's sockets get TCP_NODELAY and the read timeout; servers listen with a real backlog."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from airflow_provider_trainjobs.local.front import FrontHandler, LoopbackServer
from airflow_provider_trainjobs.local.limits import LISTEN_BACKLOG, Limits
from airflow_provider_trainjobs.local.server import Handler, LocalServer
from airflow_provider_trainjobs.local.storage_front import StorageHandler, StorageServer


class _Socket(FrontHandler):
    """Answers with the options of the socket it serves."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.send_json(200, {"nodelay": self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
                             "timeout": self.connection.gettimeout()})


@pytest.fixture
def front() -> Iterator[LoopbackServer]:
    server = LoopbackServer(0, _Socket, Limits(read_timeout=7.5))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_sockets_get_tcp_nodelay_and_the_read_timeout(front: LoopbackServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=10)
    conn.request("GET", "/", headers={"Host": f"127.0.0.1:{front.port}"})
    answer = json.loads(conn.getresponse().read())
    conn.close()
    assert answer["nodelay"] != 0 and answer["timeout"] == 7.5


def test_every_surface_uses_the_front() -> None:
    assert issubclass(Handler, FrontHandler) and issubclass(StorageHandler, FrontHandler)
    assert issubclass(LocalServer, LoopbackServer) and issubclass(StorageServer, LoopbackServer)
    assert LoopbackServer.request_queue_size == LISTEN_BACKLOG >= 128
