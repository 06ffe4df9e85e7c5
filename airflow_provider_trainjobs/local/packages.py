"""Fetch a job's ``packageUris`` from the storage emulator and give the job an environment holding them.

Each sdist is built to a wheel once per content (``<data-dir>/cache/packages/wheels/<sha256>/``); the wheels and
the requirements they declare that the base does not satisfy are installed into a venv keyed by the wheels'
content and the base interpreter (``.../envs/<key>/``, see local/envs.py), which later jobs and trials with the
same packages reuse as it is. The base is the interpreter ``--runtime VERSION=PYTHON`` names for the job's
``runtimeVersion`` (Vertex: the pool's ``executorImageUri``), else the service's own. A build or install runs in
its own session and is killed, with every process it started (setsid() children too), when ``interrupt`` raises
(cancel, maxWaitTime).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.local.envs import (
    Base,
    EnvBuilder,
    JobEnvironment,
    ResolutionError,
    probe_base,
    unsatisfied,
)
from airflow_provider_trainjobs.processes import run_interruptibly

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


def _build(src: Path, out: Path, name: str, interrupt: Callable[[], None]) -> str:
    """Build ``src`` to a wheel in ``out``; returns the wheel's file name. When ``interrupt`` raises, the build
    and everything it started (setsid() children too) are killed and the exception is re-raised.

    Output goes to files, not pipes: a child the build leaves behind cannot hold a pipe open and hang the wait.
    """
    code, out_text, err_text = run_interruptibly([sys.executable, "-c", _BUILD, str(out), _build_backend(src)],
                                                 src, interrupt, marker_key=BUILD_MARKER)
    if code != 0:
        tail = "\n".join((err_text or out_text).strip().splitlines()[-10:])
        raise PackageError(f"packageUris: building {name} failed (exit {code}):\n{tail}")
    return out_text.strip().splitlines()[-1]


def _wheel_of(archive: Path, out: Path, work: Path, interrupt: Callable[[], None]) -> Path:
    """The wheel of one sdist or wheel, in ``out`` (a wheel is copied; an sdist is built in ``work``)."""
    name = archive.name
    if name.endswith(".whl"):
        target = out / name.split("-", 1)[1]  # the download is named "<index>-<file name>"
        shutil.copyfile(archive, target)
        return target
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
    dist = work / "dist"
    dist.mkdir()
    built = dist / _build(src, dist, name, interrupt)
    shutil.move(str(built), str(out / built.name))
    return out / built.name


ENV_RECORD = "trainjobs-env.json"  # written last into a finished environment: what it holds


def runtime_key(job: dict[str, Any]) -> tuple[str, str] | None:
    """(field, value) that picks the job's base: ml v1 ``runtimeVersion``, Vertex the pool's executorImageUri."""
    for pool in (job.get("vertex") or {}).get("pools") or []:
        if pool.get("executorImageUri"):
            return f"workerPoolSpecs[{pool['index']}].pythonPackageSpec.executorImageUri", str(pool["executorImageUri"])
    if job.get("vertex"):
        return None
    version = (job.get("trainingInput") or {}).get("runtimeVersion")
    return ("runtimeVersion", str(version)) if version else None


class PackageCache:
    """Content-addressed wheels and job environments shared by every job of one service."""

    def __init__(self, root: Path, storage_endpoint: str, *, runtimes: dict[str, str] | None = None,
                 offline: bool = False) -> None:
        self.root = root
        self.storage_endpoint = storage_endpoint
        self.runtimes = dict(runtimes or {})
        self.offline = offline
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._bases: dict[str, Base] = {}
        self._client: Any = None
        if root.is_dir():  # what an interrupted or killed install left behind
            for leftover in [*root.glob("*/.*.partial"), *root.glob(".install-*"), *root.glob(".*.partial")]:
                shutil.rmtree(leftover, ignore_errors=True)
            for env in root.glob("envs/*"):
                if not (env / ENV_RECORD).is_file():
                    shutil.rmtree(env, ignore_errors=True)

    def configure(self, *, runtimes: dict[str, str], offline: bool) -> None:
        """Set the ``--runtime`` bases and ``--offline`` (the service's options)."""
        self.runtimes, self.offline = dict(runtimes), offline

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

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _locked(self, key: str, interrupt: Callable[[], None]) -> threading.Lock:
        lock = self._lock(key)
        while not lock.acquire(timeout=0.05):  # another job builds the same thing
            interrupt()
        return lock

    def base_python(self, job: dict[str, Any], log: Callable[[str, str], None]) -> str:
        """The interpreter the job's environment is layered over, with a log line saying which and why."""
        key = runtime_key(job)
        training = job.get("trainingInput") or {}
        if key is not None and key[1] in self.runtimes:
            python = self.runtimes[key[1]]
            log("INFO", f"{key[0]} {key[1]}: the trainer runs on the runtime {python} (--runtime {key[1]}).")
            return python
        if key is not None:
            log("INFO", f"{key[0]} {key[1]} recorded; no --runtime {key[1]} is configured, so the trainer runs on"
                        " the service's own interpreter and packages.")
        if training.get("pythonVersion") and not job.get("vertex"):
            log("INFO", f"pythonVersion {training['pythonVersion']} recorded; the trainer runs with the base's own"
                        f" interpreter (Python {sys.version.split()[0]} for the service's).")
        return sys.executable

    def _base(self, python: str) -> Base:
        with self._guard:
            known = self._bases.get(python)
        if known is None:
            known = probe_base(python)
            with self._guard:
                self._bases[python] = known
        return known

    def prepare(self, project: str, job: dict[str, Any], uris: list[str], download_dir: Path,
                log: Callable[[str, str], None], interrupt: Callable[[], None] = lambda: None) -> JobEnvironment:
        """The environment the job's replicas run in: the base alone without packages, else a job venv."""
        python = self.base_python(job, log)
        if not uris:
            return JobEnvironment(python)
        wheels, shas = self._wheels(project, uris, download_dir, log, interrupt)
        try:
            base = self._base(python)
        except ResolutionError as err:
            raise PackageError(f"--runtime: {err}") from None
        key = hashlib.sha256(json.dumps([python, base.version, base.dirs, shas]).encode()).hexdigest()
        target = self.root / "envs" / key[:32]
        names = ", ".join(w.name for w in wheels)
        lock = self._locked(key, interrupt)
        try:
            if (target / ENV_RECORD).is_file():
                log("INFO", f"Environment {key[:12]} with {names} already installed; reusing it (nothing installed).")
            else:
                log("INFO", f"Installing package(s) {names} into environment {key[:12]}"
                            f"{' (offline: only the cache)' if self.offline else ''}.")
                self._build_env(target, base, wheels, names, log, interrupt)
        finally:
            lock.release()
        return JobEnvironment(str(target / "bin" / "python"))

    def _wheels(self, project: str, uris: list[str], download_dir: Path, log: Callable[[str, str], None],
                interrupt: Callable[[], None]) -> tuple[list[Path], list[str]]:
        from google.api_core import exceptions as gexc

        download_dir.mkdir(parents=True, exist_ok=True)
        client = self._storage(project)
        wheels: list[Path] = []
        shas: list[str] = []
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
            shas.append(sha)
            target = self.root / "wheels" / sha
            lock = self._locked(sha, interrupt)
            try:
                built = sorted(target.glob("*.whl")) if target.is_dir() else []
                if built:
                    log("INFO", f"Package {Path(name).name} (sha256 {sha[:12]}) already built; reusing its wheel.")
                else:
                    log("INFO", f"Building package {Path(name).name} (sha256 {sha[:12]}).")
                    built = [self._build_wheel(local, target, index, uri, interrupt)]
            finally:
                lock.release()
            wheels.append(built[0])
        return wheels, shas

    def _build_wheel(self, local: Path, target: Path, index: int, uri: str, interrupt: Callable[[], None]) -> Path:
        interrupted: list[BaseException] = []

        def guarded() -> None:
            try:
                interrupt()
            except BaseException as err:
                interrupted.append(err)
                raise

        tmp = target.parent / f".{target.name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            with tempfile.TemporaryDirectory(prefix=".install-", dir=self.root) as work:
                wheel = _wheel_of(local, tmp, Path(work), guarded)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if interrupted or isinstance(err, PackageError) or not isinstance(err, Exception):
                raise
            raise PackageError(f"packageUris[{index}]: installing {uri} failed: {err}") from None
        tmp.rename(target)
        return target / wheel.name

    def _build_env(self, target: Path, base: Base, wheels: list[Path], names: str,
                   log: Callable[[str, str], None], interrupt: Callable[[], None]) -> None:
        started = time.monotonic()
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        builder = EnvBuilder(base, offline=self.offline, interrupt=interrupt)
        try:
            with tempfile.TemporaryDirectory(prefix=".install-", dir=self.root) as work:
                builder.create_venv(target, Path(work))
                needed = unsatisfied(wheels, base)
                if needed:
                    log("INFO", f"Resolving what the base {base.python} lacks: {', '.join(needed)}.")
                installed = builder.install(target, wheels, needed, Path(work))
        except ResolutionError as err:
            shutil.rmtree(target, ignore_errors=True)
            hint = " (offline: only packages already in the cache can be installed)" if self.offline else ""
            raise PackageError(f"packageUris: the requirements of {names} could not be installed{hint}: {err}")\
                from None
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        seconds = time.monotonic() - started
        (target / ENV_RECORD).write_text(json.dumps({"base": base.python, "installed": installed,
                                                     "seconds": round(seconds, 3)}))
        log("INFO", f"Installed {len(installed)} package(s) in {seconds:.2f} s with"
                    f" {'uv' if builder.uv else 'pip'}: {', '.join(installed)}.")

