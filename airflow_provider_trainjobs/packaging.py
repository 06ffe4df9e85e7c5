"""Build a trainer's source distribution the way ``gcloud ai-platform jobs submit training --package-path`` does.

``setup.py`` is looked for in the parent of the package dir as given (a symlinked package dir is looked up beside
the link, as gcloud does); a ``pyproject.toml`` project is built with its own backend, a ``setup.cfg`` project
through a ``setup()`` shim (:mod:`~airflow_provider_trainjobs.packaging_project`); only with no project at all is
a minimal ``setup.py`` holding only that package generated. The build runs in a subprocess in a temporary
build dir holding a copy of the package and of the project root's other files and dirs, so a ``setup.py`` that
writes there writes into the copy. One case still reaches the user's tree: when the root's other dirs and files
add up to more than :data:`COPY_BUDGET_BYTES`, the largest are symlinked instead of copied (each one logged as a
warning) and a build that writes into one of those writes through the link. The build runs in its own session and
is killed with everything it started on a timeout or an error (a task kill). The resulting tarball is re-packed
deterministically so an unchanged tree always gives the same bytes (and therefore the same content-addressed
staging path).
"""

from __future__ import annotations

import fnmatch
import gzip
import logging
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from airflow_provider_trainjobs.packaging_project import (
    SETUP_SHIM,
    ProjectKind,
    has_project_files,
    project_kind,
)
from airflow_provider_trainjobs.processes import kill_tree, new_marker
from airflow_provider_trainjobs.scratch import RAM_MAX_BYTES, scratch_dir

log = logging.getLogger(__name__)

__all__ = ["BuiltPackage", "PackageSource", "PackagingError", "build_training_package", "check_package_path"]

# 1980-01-01: the earliest time zip-based tools accept; every member of the tarball gets it.
REPRODUCIBLE_MTIME = 315532800
BUILD_TIMEOUT_SECONDS = 600
# The one compression pass (setup.py writes a plain .tar): gzip's default level, as fast as it is reproducible.
GZIP_LEVEL = 6
# The project root's dirs and files beside the package are copied into the build dir up to this many bytes in
# all (each file counted as at least 4 KiB, so many small files count too); beyond it the largest are linked.
COPY_BUDGET_BYTES = 64 * 1024 * 1024
_MIN_FILE_BYTES = 4096
_BUILD_MARKER = "TRAINJOBS_SDIST_BUILD_ID"  # in the build's environment: finds what it started, even orphaned
_OUTPUT_TAIL_LINES = 25
# Left out of the build dir at the project root only: build leftovers, VCS dirs, virtualenvs and tool caches
# (they would leak into or skew the sdist). Deeper down a dir of these names is the user's code (a
# ``trainer/build`` subpackage) and is kept. ``build``/``dist`` holding an ``__init__.py`` are packages, kept.
_ROOT_LEFTOVERS = (".git", ".hg", ".svn", "*.egg-info", "build", "dist", ".eggs", ".venv", "venv", ".tox",
                   ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache")
# Left out at every depth: bytecode caches (never source, and they change without the source changing).
_CACHES = ("__pycache__", "*.pyc", "*.pyo")

_GENERATED_SETUP = """\
from setuptools import find_packages, setup

setup(
    name={name!r},
    version="0.0.0",
    packages=find_packages(include=[{name!r}, {name!r} + ".*"]),
)
"""

# Runs inside the build subprocess (cwd = the project copy): PEP 517 ``build_sdist`` of the project's own
# backend, without isolation (no network on a worker), printing the file name it produced.
_PEP517_RUNNER = """\
import importlib, os, sys, tomllib
with open("pyproject.toml", "rb") as f:
    system = tomllib.load(f).get("build-system", {})
spec = system.get("build-backend", "setuptools.build_meta:__legacy__")
for entry in reversed(system.get("backend-path", [])):
    sys.path.insert(0, os.path.abspath(entry))
module, _, attr = spec.partition(":")
try:
    backend = importlib.import_module(module)
except ImportError as err:
    sys.exit(f"build backend {spec!r} is not installed in this environment "
             f"(builds run without isolation, install it beside Airflow): {err}")
for part in filter(None, attr.split(".")):
    backend = getattr(backend, part)
print("TRAINJOBS_SDIST=" + backend.build_sdist(sys.argv[1], {}))
"""


class PackagingError(ValueError):
    """The package dir cannot be built into a source distribution; the message says why."""


@dataclass(frozen=True)
class BuiltPackage:
    """A built sdist: where it is, the hex sha256 and base64 CRC32C of its bytes (taken while it was written, so
    staging needs no read to plan and check it), and whether ``setup.py`` was generated."""

    path: Path
    sha256: str
    generated_setup: bool
    crc32c_b64: str = ""

    @property
    def size(self) -> int:
        """Size of the tarball in bytes."""
        return self.path.stat().st_size


@dataclass(frozen=True)
class PackageSource:
    """A checked ``package_path``: the package dir, the project root (its parent) and how it will be built.

    ``kind`` is :func:`~airflow_provider_trainjobs.packaging_project.project_kind` of the root. ``tarball_name``
    is the sdist's file name when it is known before building (generated ``setup.py``: ``<name>-0.0.0.tar.gz``),
    else None (the project's own ``setup.py``/``pyproject.toml``/``setup.cfg`` decides it).
    """

    package_dir: Path
    root: Path
    kind: ProjectKind

    @property
    def generated_setup(self) -> bool:
        return self.kind == "generated"

    @property
    def tarball_name(self) -> str | None:
        return f"{self.package_dir.name.lower()}-0.0.0.tar.gz" if self.generated_setup else None


def check_package_path(package_path: str | os.PathLike[str]) -> PackageSource:
    """Every check on ``package_path`` that needs no build; raises :class:`PackagingError` naming the rule.

    The root is the parent of the path as given (not of a symlink's target), like gcloud."""
    given = Path(package_path).expanduser()
    if not given.exists():
        raise PackagingError(f"package_path {str(package_path)!r} does not exist")
    if not given.is_dir():
        raise PackagingError(f"package_path {str(package_path)!r} is not a directory")
    package_dir = Path(os.path.abspath(given))
    if not (package_dir / "__init__.py").is_file():
        raise PackagingError(
            f"package_path {str(package_path)!r} has no __init__.py: the trainer must be a Python package"
        )
    root = package_dir.parent
    kind = project_kind(root)
    if kind == "generated" and not package_dir.name.isidentifier():
        raise PackagingError(
            f"package_path {str(package_path)!r}: without a setup.py the directory name must be a valid "
            f"Python package name (letters, digits, underscores), got {package_dir.name!r}"
        )
    return PackageSource(package_dir, root, kind)


def build_training_package(package_path: str | os.PathLike[str], output_dir: str | os.PathLike[str] | None = None
                           ) -> BuiltPackage:
    """Build ``package_path`` (a dir holding ``__init__.py``) into a reproducible ``.tar.gz`` in ``output_dir``.

    ``output_dir`` defaults to a new temporary directory that the caller owns. Raises :class:`PackagingError`
    for a path that is not a package directory or a build that fails (with the tail of the build's output).
    """
    source = check_package_path(package_path)
    package_dir, root, generated = source.package_dir, source.root, source.generated_setup
    out_dir = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix="trainjobs-pkg-"))
    out_dir.mkdir(parents=True, exist_ok=True)

    # The scratch copy and tar: about 3x the project, in memory when that fits (see scratch.py).
    scratch = scratch_dir(3 * _tree_size(root, RAM_MAX_BYTES // 3))
    with tempfile.TemporaryDirectory(prefix="trainjobs-build-", dir=scratch) as tmp:
        work = Path(tmp) / "src"
        dist = Path(tmp) / "dist"
        dist.mkdir()
        try:
            if generated and not has_project_files(root):
                # No project at all: only the package goes into the build dir, next to a generated setup.py
                # (never written to the user's tree).
                work.mkdir()
                _copy_tree(package_dir.resolve(), work / package_dir.name)
            else:
                _mirror_project(root, package_dir, work)
            if generated:  # beside a mirrored MANIFEST.in/setup.cfg too, which setuptools then still applies
                (work / "setup.py").write_text(_GENERATED_SETUP.format(name=package_dir.name), encoding="utf-8")
            elif source.kind == "setup.cfg":  # setuptools reads name, version, dependencies from setup.cfg
                (work / "setup.py").write_text(SETUP_SHIM, encoding="utf-8")
        except (OSError, shutil.Error) as err:
            raise PackagingError(f"package_path {str(package_path)!r}: cannot prepare the build: {err}") from err
        raw = _run_build(work, dist, Path(tmp) / "build.log", use_setup_py=(work / "setup.py").is_file(),
                         package_path=str(package_path))
        target = out_dir / (raw.name + ".gz" if raw.suffix == ".tar" else raw.name)
        digest, crc32c_b64 = _repack(raw, target)
    return BuiltPackage(path=target, sha256=digest, generated_setup=generated, crc32c_b64=crc32c_b64)


def _mirror_project(root: Path, package_dir: Path, work: Path) -> None:
    """Lay out the project in ``work`` so the build writes into copies, never into ``root``.

    The package dir is always copied (links followed: shared code linked in is packaged). The root's other dirs
    and files are copied too while they add up to at most :data:`COPY_BUDGET_BYTES`; past it the largest are
    symlinked to the originals instead (logged), so a big data or checkpoint dir beside ``setup.py`` costs
    nothing. Build leftovers at the root are left out; special files and dangling or looping links are skipped.
    """
    work.mkdir()
    entries: list[tuple[Path, int]] = []
    for entry in sorted(root.iterdir()):
        if entry == package_dir:
            _copy_tree(package_dir.resolve(), work / entry.name)
        elif _is_root_leftover(entry) or any(fnmatch.fnmatch(entry.name, p) for p in _CACHES):
            continue
        elif entry.is_dir():
            target = entry.resolve()
            if target == root.resolve() or target in root.resolve().parents:
                log.warning("skipped %s: a link back to the project (a loop)", entry)
            else:
                entries.append((entry, _tree_size(entry, COPY_BUDGET_BYTES)))
        elif entry.is_file():
            entries.append((entry, max(entry.stat().st_size, _MIN_FILE_BYTES)))
        else:
            log.warning("skipped %s: a dangling link or a special file", entry)
    total = sum(size for _, size in entries)
    linked: set[Path] = set()
    for entry, size in sorted(entries, key=lambda item: -item[1]):
        if total <= COPY_BUDGET_BYTES:
            break
        linked.add(entry)
        total -= size
    for entry, size in entries:
        if entry in linked:
            log.warning("%s is linked into the build dir, not copied: the project root's dirs and files beside the "
                        "package are over the %s copy budget (COPY_BUDGET_BYTES) and it is among the largest (%s);"
                        " a setup.py that writes into it writes into your tree", entry, _mib(COPY_BUDGET_BYTES),
                        ("over " if size > COPY_BUDGET_BYTES else "") + _mib(size))
            (work / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
        elif entry.is_dir():
            _copy_tree(entry.resolve(), work / entry.name)
        else:
            shutil.copy2(entry, work / entry.name)


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _tree_size(top: Path, limit: int) -> int:
    """Bytes of the files under ``top`` as :func:`_copy_tree` would copy them (links followed, each real dir
    once, caches left out, each file at least 4 KiB); stops counting once past ``limit``."""
    total = 0
    seen: set[Path] = set()
    todo = [top]
    while todo and total <= limit:
        current = todo.pop()
        real = current.resolve()
        if real in seen:
            continue
        seen.add(real)
        try:
            children = list(os.scandir(current))
        except OSError:
            continue
        for child in children:
            if any(fnmatch.fnmatch(child.name, p) for p in _CACHES):
                continue
            try:
                if child.is_dir():
                    todo.append(Path(child.path))
                elif child.is_file():
                    total += max(child.stat().st_size, _MIN_FILE_BYTES)
            except OSError:
                continue
    return total


def _is_root_leftover(entry: Path) -> bool:
    if entry.name in ("build", "dist") and (entry / "__init__.py").is_file():
        return False  # a top-level package that happens to be called build/dist
    return any(fnmatch.fnmatch(entry.name, pattern) for pattern in _ROOT_LEFTOVERS)


def _copy_tree(top: Path, target: Path) -> None:
    """Copy the real dir ``top`` following links, minus caches, special files and links that loop back."""

    def ignore(src: str, names: list[str]) -> set[str]:
        # The real dirs on the way here (links followed): a link to one of them, or to a dir above one of
        # them, would bring the copy back to this point forever.
        chain, logical = set(top.parents), Path(src)
        while True:
            chain.add(logical.resolve())
            if logical == top or logical == logical.parent:
                break
            logical = logical.parent
        chain.update(*(c.parents for c in list(chain)))
        skipped = set(shutil.ignore_patterns(*_CACHES)(src, names))
        for name in names:
            path = Path(src) / name
            if name in skipped:
                continue
            if path.is_symlink() and path.is_dir():
                if path.resolve() in chain:
                    log.warning("skipped %s: a link back to one of its parent dirs (a loop)", path)
                    skipped.add(name)
            elif not path.is_dir() and not path.is_file():
                log.warning("skipped %s: a dangling link or a special file", path)
                skipped.add(name)
        return skipped

    shutil.copytree(top, target, ignore=ignore, ignore_dangling_symlinks=True)


def _run_build(work: Path, dist: Path, log_path: Path, *, use_setup_py: bool, package_path: str) -> Path:
    """Run the sdist build in a fresh interpreter in its own session and return the tarball it wrote into
    ``dist``. On a timeout or any exception (a task kill) the build and everything it started are killed.

    Output goes to ``log_path``, not a pipe: a child the build leaves behind cannot hang the wait on it."""
    if use_setup_py:
        cmd = [sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(dist), "--formats=tar"]
    else:
        cmd = [sys.executable, "-c", _PEP517_RUNNER, str(dist)]
    key, value = new_marker(_BUILD_MARKER)
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(REPRODUCIBLE_MTIME), PYTHONDONTWRITEBYTECODE="1",
               PYTHONUNBUFFERED="1", **{key: value})
    timed_out = False
    with open(log_path, "w+", encoding="utf-8", errors="replace") as output:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            proc.wait(timeout=BUILD_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            timed_out = True
        except BaseException:
            kill_tree(proc.pid, signal.SIGKILL, marker=f"{key}={value}")
            proc.wait()
            raise
        if timed_out:
            kill_tree(proc.pid, signal.SIGKILL, marker=f"{key}={value}")
            proc.wait()
        else:
            kill_tree(proc.pid, signal.SIGKILL, marker=f"{key}={value}", tree=False)  # what it left running
        output.seek(0)
        tail = "\n".join(output.read().strip().splitlines()[-_OUTPUT_TAIL_LINES:])
    if timed_out:
        raise PackagingError(f"building {package_path!r} took longer than {BUILD_TIMEOUT_SECONDS}s and was stopped;"
                             f" last output:\n{tail}")
    what = "setup.py sdist" if use_setup_py else "the pyproject.toml build backend"
    tarballs = sorted(dist.glob("*.tar" if use_setup_py else "*.tar.gz"))
    if proc.returncode != 0 or len(tarballs) != 1:
        reason = f"exited with {proc.returncode}" if proc.returncode else f"produced {len(tarballs)} sdist files"
        raise PackagingError(f"building {package_path!r} with {what} failed ({reason}); last output:\n{tail}")
    return tarballs[0]


class _HashingWriter:
    """A write-only file that hashes what passes through it, so the sha256 and CRC32C need no second read."""

    def __init__(self, raw: BinaryIO) -> None:
        from airflow_provider_trainjobs.staging_plan import Digests

        self.raw = raw
        self.digests = Digests()

    def write(self, data: bytes) -> int:
        self.digests.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _repack(source: Path, target: Path) -> tuple[str, str]:
    """Write ``source`` (a ``.tar``, or a ``.tar.gz`` from a PEP 517 backend) to ``target`` as a reproducible
    ``.tar.gz``: sorted members, fixed times/owners/modes, a gzip header without a time, compressed once while
    being hashed. Returns the hex sha256 and base64 CRC32C of the written bytes."""
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(source, "r:*") as tin, open(partial, "wb") as raw:
        writer = _HashingWriter(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=writer, mtime=0, compresslevel=GZIP_LEVEL) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tout:
                for member in sorted(tin.getmembers(), key=lambda m: m.name):
                    member.mtime = REPRODUCIBLE_MTIME
                    member.uid = member.gid = 0
                    member.uname = member.gname = ""
                    member.pax_headers = {}
                    executable = member.isdir() or bool(member.mode & 0o111)
                    member.mode = 0o755 if executable else 0o644
                    tout.addfile(member, tin.extractfile(member) if member.isfile() else None)
    os.replace(partial, target)
    return writer.digests.sha256.hexdigest(), writer.digests.crc32c_b64()
