"""Fetch a job's ``packageUris`` from the storage emulator and install them once per package content.

Installed trees live in ``<data-dir>/cache/packages/<sha256>/`` and are put on the trainer's PYTHONPATH;
the trainer runs with the service's own interpreter, so dependencies already installed there need no
network. A second job whose package has the same bytes skips the install entirely. Dependencies
(``install_requires``) are not installed: the ones missing from the service's environment are reported.
A build runs in its own session and is killed, with every process it started (setsid() children too),
when ``interrupt`` raises (cancel, maxWaitTime).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Callable
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.processes import kill_tree, new_marker

BUILD_MARKER = "TRAINJOBS_BUILD_ID"  # in the build's environment: finds what it started, even orphaned
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


def _build(src: Path, out: Path, name: str, interrupt: Callable[[], None]) -> str:
    """Build ``src`` to a wheel in ``out``; returns the wheel's file name. When ``interrupt`` raises, the build
    and everything it started (setsid() children too) are killed and the exception is re-raised.

    Output goes to files, not pipes: a child the build leaves behind cannot hold a pipe open and hang the wait.
    """
    key, value = new_marker(BUILD_MARKER)
    log_dir = out.parent
    with open(log_dir / "build.out", "w+") as stdout, open(log_dir / "build.err", "w+") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", _BUILD, str(out), _build_backend(src)],
            cwd=src, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, text=True,
            start_new_session=True, env=dict(os.environ, **{key: value}),
        )
        try:
            while True:
                try:
                    proc.wait(timeout=0.05)
                    break
                except subprocess.TimeoutExpired:
                    interrupt()
        except BaseException:
            kill_tree(proc.pid, signal.SIGKILL, marker=f"{key}={value}")
            proc.wait()
            raise
        finally:
            kill_tree(proc.pid, signal.SIGKILL, marker=f"{key}={value}", tree=False)  # what it left running
        stdout.seek(0)
        stderr.seek(0)
        out_text, err_text = stdout.read(), stderr.read()
    if proc.returncode != 0:
        tail = "\n".join((err_text or out_text).strip().splitlines()[-10:])
        raise PackageError(f"packageUris: building {name} failed (exit {proc.returncode}):\n{tail}")
    return out_text.strip().splitlines()[-1]


def _install(archive: Path, target: Path, work: Path, interrupt: Callable[[], None]) -> None:
    """Install one sdist or wheel into ``target`` (a wheel is unpacked; an sdist is built to one in ``work``)."""
    name = archive.name
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
    _unpack_wheel(out / _build(src, out, name, interrupt), target)


def missing_requirements(target: Path) -> list[str]:
    """The ``Requires-Dist`` entries of the packages installed in ``target`` that the service's own
    environment does not satisfy (extras-only entries and non-matching markers are skipped)."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    missing: list[str] = []
    for meta in sorted(target.glob("*.dist-info/METADATA")):
        headers = HeaderParser().parsestr(meta.read_text(errors="replace"))
        for text in headers.get_all("Requires-Dist") or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                version = metadata.version(req.name)
            except metadata.PackageNotFoundError:
                missing.append(str(req))
                continue
            if req.specifier and not req.specifier.contains(version, prereleases=True):
                missing.append(f"{req} (found {version})")
    return missing


class PackageCache:
    """Content-addressed installs shared by every job of one service."""

    def __init__(self, root: Path, storage_endpoint: str) -> None:
        self.root = root
        self.storage_endpoint = storage_endpoint
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._client: Any = None
        if root.is_dir():  # what an interrupted or killed install left behind
            for leftover in [*root.glob(".*.partial"), *root.glob(".install-*")]:
                shutil.rmtree(leftover, ignore_errors=True)

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

    def install(self, project: str, uris: list[str], download_dir: Path, log: Callable[[str, str], None],
                interrupt: Callable[[], None] = lambda: None) -> list[Path]:
        """Download and install every URI; returns the directories to put on PYTHONPATH, in URI order.

        ``log(severity, line)`` gets the progress lines and one WARNING naming dependencies the service's
        environment lacks; ``interrupt`` is called while waiting and may raise to abandon the install.
        """
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
            lock = self._lock(sha)
            while not lock.acquire(timeout=0.05):  # another job installs the same bytes
                interrupt()
            try:
                if target.is_dir():
                    log("INFO", f"Package {Path(name).name} (sha256 {sha[:12]}) already installed; reusing it.")
                else:
                    log("INFO", f"Installing package {Path(name).name} (sha256 {sha[:12]}).")
                    self._install_new(local, target, index, uri, interrupt)
            finally:
                lock.release()
            missing = missing_requirements(target)
            if missing:
                log("WARNING", f"Package {Path(name).name} requires {', '.join(missing)}, not installed where the"
                               " local service runs; the service does not install dependencies (install them into"
                               " its Python environment).")
            paths.append(target)
        return paths

    def _install_new(self, local: Path, target: Path, index: int, uri: str, interrupt: Callable[[], None]) -> None:
        interrupted: list[BaseException] = []

        def guarded() -> None:
            try:
                interrupt()
            except BaseException as err:
                interrupted.append(err)
                raise

        tmp = self.root / f".{target.name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            with tempfile.TemporaryDirectory(prefix=".install-", dir=self.root) as work:
                _install(local, tmp, Path(work), guarded)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if interrupted or isinstance(err, PackageError) or not isinstance(err, Exception):
                raise
            raise PackageError(f"packageUris[{index}]: installing {uri} failed: {err}") from None
        tmp.rename(target)
