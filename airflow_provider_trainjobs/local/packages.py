"""Fetch a job's ``packageUris`` from the storage emulator and install them once per package content.

Installed trees live in ``<data-dir>/cache/packages/<sha256>/`` and are put on the trainer's PYTHONPATH;
the trainer runs with the service's own interpreter, so dependencies already installed there need no
network. A second job whose package has the same bytes skips the install entirely.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_BUILD = (
    "import importlib, sys\n"
    "module, _, attr = sys.argv[2].partition(':')\n"
    "backend = importlib.import_module(module)\n"
    "backend = getattr(backend, attr) if attr else backend\n"
    "print(backend.build_wheel(sys.argv[1]))\n"
)


class PackageError(RuntimeError):
    """A package could not be fetched or installed; the message names the URI."""


def _split_gs(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise PackageError(f"packageUris: {uri!r} is not a gs://BUCKET/OBJECT URI")
    bucket, _, name = uri[5:].partition("/")
    return bucket, name


def _build_backend(src: Path) -> str:
    pyproject = src / "pyproject.toml"
    if pyproject.exists():
        import tomllib

        data = tomllib.loads(pyproject.read_text())
        backend = data.get("build-system", {}).get("build-backend")
        if backend:
            return str(backend)
    return "setuptools.build_meta:__legacy__"


def _unpack_wheel(wheel: Path, target: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    for data_dir in target.glob("*.data"):
        for scheme in ("purelib", "platlib"):
            lib = data_dir / scheme
            if lib.is_dir():
                for item in lib.iterdir():
                    shutil.move(str(item), str(target / item.name))


def _install(archive: Path, target: Path) -> None:
    """Install one sdist or wheel into ``target`` (a wheel is unpacked; an sdist is built to one first)."""
    name = archive.name
    with tempfile.TemporaryDirectory(prefix="trainjobs-install-") as tmp:
        work = Path(tmp)
        if name.endswith(".whl"):
            _unpack_wheel(archive, target)
            return
        if name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(archive) as tar:
                tar.extractall(work / "src", filter="data")
        elif name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(work / "src")
        else:
            raise PackageError(f"packageUris: {name} is neither an sdist (.tar.gz/.zip) nor a wheel (.whl)")
        roots = [p for p in (work / "src").iterdir() if p.is_dir()]
        src = roots[0] if len(roots) == 1 and not (work / "src" / "setup.py").exists() else work / "src"
        out = work / "dist"
        out.mkdir()
        proc = subprocess.run(
            [sys.executable, "-c", _BUILD, str(out), _build_backend(src)],
            cwd=src,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
            raise PackageError(f"packageUris: building {name} failed (exit {proc.returncode}):\n{tail}")
        wheel_name = proc.stdout.strip().splitlines()[-1]
        _unpack_wheel(out / wheel_name, target)


class PackageCache:
    """Content-addressed installs shared by every job of one service."""

    def __init__(self, root: Path, storage_endpoint: str) -> None:
        self.root = root
        self.storage_endpoint = storage_endpoint
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._client: Any = None

    def _storage(self, project: str) -> Any:
        if self._client is None:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            self._client = storage.Client(
                project=project,
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options={"api_endpoint": self.storage_endpoint},
            )
        return self._client

    def _lock(self, sha: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(sha, threading.Lock())

    def install(self, project: str, uris: list[str], download_dir: Path, log: Callable[[str], None]) -> list[Path]:
        """Download and install every URI; returns the directories to put on PYTHONPATH, in URI order."""
        from google.api_core import exceptions as gexc

        download_dir.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        client = self._storage(project)
        for index, uri in enumerate(uris):
            bucket, name = _split_gs(uri)
            local = download_dir / f"{index}-{Path(name).name}"
            try:
                client.bucket(bucket).blob(name).download_to_filename(str(local))
            except gexc.NotFound:
                raise PackageError(f"packageUris[{index}]: {uri} was not found in Cloud Storage") from None
            except Exception as err:  # noqa: BLE001 - reported to the user as the job's errorMessage
                raise PackageError(f"packageUris[{index}]: downloading {uri} failed: {err}") from None
            sha = hashlib.sha256(local.read_bytes()).hexdigest()
            target = self.root / sha
            with self._lock(sha):
                if target.is_dir():
                    log(f"Package {Path(name).name} (sha256 {sha[:12]}) already installed; reusing it.")
                else:
                    log(f"Installing package {Path(name).name} (sha256 {sha[:12]}).")
                    tmp = self.root / f".{sha}.partial"
                    shutil.rmtree(tmp, ignore_errors=True)
                    tmp.mkdir(parents=True)
                    try:
                        _install(local, tmp)
                    except PackageError:
                        shutil.rmtree(tmp, ignore_errors=True)
                        raise
                    except Exception as err:  # noqa: BLE001
                        shutil.rmtree(tmp, ignore_errors=True)
                        raise PackageError(f"packageUris[{index}]: installing {uri} failed: {err}") from None
                    tmp.rename(target)
            paths.append(target)
        return paths
