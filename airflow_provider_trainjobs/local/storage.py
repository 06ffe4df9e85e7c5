"""The Cloud Storage emulator the local service embeds (the ``gcp-storage-emulator`` package, on disk).

Its storage and routes are the package's; the HTTP front is ours (``storage_front``), so the storage port
gets the same caller checks, limits and error answers as the API port.

Also runnable alone: ``python -m airflow_provider_trainjobs.local.storage --port P --data-dir D``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

from airflow_provider_trainjobs.local.limits import Limits
from airflow_provider_trainjobs.local.storage_front import StorageServer


class StorageEmulator:
    """An on-disk gcp-storage-emulator served by ``storage_front`` on 127.0.0.1; ``endpoint`` is what clients
    point at."""

    def __init__(self, port: int, data_dir: str | Path, limits: Limits | None = None) -> None:
        from gcp_storage_emulator.storage import Storage

        self.port = port
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.limits = limits or Limits()
        logging.getLogger("gcp_storage_emulator").setLevel(logging.CRITICAL)  # errors are answered, not logged
        self._storage: Any = Storage(use_memory_fs=False, data_dir=str(self.data_dir.resolve()))
        self._server: StorageServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Bind and serve in a daemon thread; OSError naming the port when it cannot bind."""
        try:
            self._server = StorageServer(self.port, self._storage, self.limits)
        except OSError as err:
            raise OSError(f"cannot serve on 127.0.0.1:{self.port}: {err.strerror or err}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        daemon=True)  # never keeps the service process alive on its own
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

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
