"""The Cloud Storage emulator the local service embeds (the ``gcp-storage-emulator`` package, on disk).

Also runnable alone: ``python -m airflow_provider_trainjobs.local.storage --port P --data-dir D``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import threading
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any


class StorageEmulator:
    """An on-disk gcp-storage-emulator bound to 127.0.0.1; ``endpoint`` is what clients point at."""

    def __init__(self, port: int, data_dir: str | Path) -> None:
        from gcp_storage_emulator.server import create_server

        self.port = port
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)
        self._server: Any = create_server("127.0.0.1", port, in_memory=False, data_dir=str(self.data_dir))

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Bind and serve in a daemon thread; OSError naming the port when it cannot bind.

        The emulator's own ``start()`` waits forever when its thread dies (port taken), so this
        watches the thread instead.
        """
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:  # a clean error, not a thread traceback
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError as err:
                raise OSError(f"cannot serve on 127.0.0.1:{self.port}: {err.strerror or err}") from None
        thread = self._server._api
        thread.daemon = True  # never keeps the service process alive on its own
        thread.start()
        deadline = time.monotonic() + timeout
        while not thread.is_running.wait(0.05):
            if not thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"cannot serve on 127.0.0.1:{self.port} (is the port already in use?)")

    def stop(self) -> None:
        thread = self._server._api
        if thread.is_alive():
            self._server.stop()

    def healthy(self, timeout: float = 2.0) -> bool:
        """True when the emulator answers its bucket list over HTTP."""
        try:
            with urllib.request.urlopen(f"{self.endpoint}/storage/v1/b?project=local", timeout=timeout) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False


def main(argv: list[str] | None = None) -> int:
    """Serve the emulator in the foreground until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description="Cloud Storage emulator on 127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args(argv)
    emulator = StorageEmulator(args.port, args.data_dir)
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    emulator.start()
    print(f"storage emulator on {emulator.endpoint} (data in {emulator.data_dir})", flush=True)
    stop.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
