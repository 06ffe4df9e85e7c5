"""Isolated trainer environments: a venv per set of package wheels, layered over a base interpreter.

The venv's site-packages comes first on sys.path, then (through a ``.pth`` file) the base's site directories,
so what the job installs wins and what the base already has (numpy, a framework) is used as it is. Only the
declared requirements the base does not satisfy are resolved, by uv (preferring the base's versions, so a
dependency is not upgraded under the base's packages) or by pip run inside the venv (which sees the base as
installed). The package index is the one this machine is configured for: uv's own settings when there are any
(``UV_INDEX_URL``, ``UV_DEFAULT_INDEX``, ``uv.toml``, ...), else pip's (``PIP_INDEX_URL``, pip.conf, ...).
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from airflow_provider_trainjobs.processes import run_interruptibly

_UV_INDEX_ENV = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS",
                 "UV_NO_INDEX")
_PIP_OPTIONS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links",
                "constraint": "--constraint"}
# Run by the base interpreter: its site directories, installed distributions and marker environment.
_PROBE = r"""
import json, os, platform, site, sys
from importlib import metadata
dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
    dirs.append(site.getusersitepackages())
dists = {}
for dist in metadata.distributions():
    name = (dist.metadata["Name"] or "").lower().replace("_", "-").replace(".", "-")
    if name and name not in dists:
        dists[name] = dist.version
env = {"implementation_name": sys.implementation.name, "os_name": os.name,
       "platform_machine": platform.machine(), "platform_release": platform.release(),
       "platform_system": platform.system(), "platform_version": platform.version(),
       "python_full_version": platform.python_version(), "platform_python_implementation":
       platform.python_implementation(), "python_version": ".".join(platform.python_version_tuple()[:2]),
       "sys_platform": sys.platform, "implementation_version": platform.python_version()}
print(json.dumps({"dirs": [d for d in dirs if os.path.isdir(d)], "dists": dists, "markers": env,
                  "version": platform.python_version()}))
"""


class ResolutionError(RuntimeError):
    """The declared requirements could not be resolved or installed; the message is the resolver's."""


@dataclass(frozen=True)
class Base:
    """What a base interpreter offers a job environment."""

    python: str
    version: str
    dirs: list[str]
    dists: dict[str, str]
    markers: dict[str, str]


@dataclass(frozen=True)
class JobEnvironment:
    """The interpreter a job's replicas run with (a job venv's, or the base's when the job has no packages)."""

    python: str


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def probe_base(python: str) -> Base:
    """Ask ``python`` for its site directories, distributions and marker environment."""
    proc = subprocess.run([python, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise ResolutionError(f"the base interpreter {python} does not run: {tail[0]}")
    data = json.loads(proc.stdout)
    return Base(python, str(data["version"]), list(data["dirs"]), dict(data["dists"]), dict(data["markers"]))


def wheel_requirements(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` entries of a wheel's METADATA."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            if not names:
                return []
            text = archive.read(names[0]).decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile) as err:
        raise ResolutionError(f"{wheel.name} is not a readable wheel: {err}") from None
    return list(HeaderParser().parsestr(text).get_all("Requires-Dist") or [])


def unsatisfied(wheels: list[Path], base: Base) -> list[str]:
    """The requirements of ``wheels`` (markers evaluated for the base) that neither the base nor another of the
    wheels satisfies: what must be resolved from the index."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        shipped = {canonical(str(parse_wheel_filename(w.name)[0])) for w in wheels}
    except InvalidWheelFilename as err:
        raise ResolutionError(f"not a wheel file name: {err}") from None
    needed: list[str] = []
    for wheel in wheels:
        for text in wheel_requirements(wheel):
            try:
                req = Requirement(text)
            except InvalidRequirement as err:
                raise ResolutionError(f"{wheel.name}: Requires-Dist {text!r} is not a valid requirement: {err}")\
                    from None
            if req.marker is not None and not req.marker.evaluate({**base.markers, "extra": ""}):
                continue
            name = canonical(req.name)
            if name in shipped:
                continue
            have = base.dists.get(name)
            if have is not None and (not req.specifier or req.specifier.contains(have, prereleases=True)):
                continue
            if str(req) not in needed:
                needed.append(str(req))
    return needed


@functools.lru_cache(maxsize=1)
def _pip_config() -> list[tuple[str, str]]:
    """pip's configured (key, value) pairs, from its own reader (files and PIP_* variables); read once per
    service."""
    try:
        proc = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    pairs = []
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            pairs.append((key.rsplit(".", 1)[-1], value.strip().strip("'\"")))
    return pairs


def _uv_configured() -> bool:
    if any(os.environ.get(name) for name in _UV_INDEX_ENV) or os.environ.get("UV_CONFIG_FILE"):
        return True
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    dirs = [config_home, *(Path(d) for d in (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")),
            Path("/etc")]
    return any((d / "uv" / "uv.toml").is_file() for d in dirs)


def uv_index_args() -> list[str]:
    """uv options naming pip's index settings, or none when uv has index settings of its own."""
    if _uv_configured():
        return []
    args: list[str] = []
    seen: set[tuple[str, str]] = set()
    for key, value in _pip_config():
        flag = _PIP_OPTIONS.get(key)
        if flag is None:
            if key == "no-index" and value.lower() in ("1", "true", "yes", "on"):
                args.append("--no-index")
            continue
        for item in value.split():
            if item.startswith("file://") and not Path(item[7:]).exists():
                continue  # pip ignores a missing local index with a warning; uv would fail on it
            if (flag, item) not in seen:
                seen.add((flag, item))
                args += [flag, item]
    return args


def uv_command() -> str | None:
    """The uv executable: next to this interpreter (installed in the venv) or on PATH."""
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.is_file() else shutil.which("uv")


class EnvBuilder:
    """Builds one job venv at ``target`` over ``base`` holding ``wheels`` and what they still need."""

    def __init__(self, base: Base, *, offline: bool, interrupt: Callable[[], None]) -> None:
        self.base, self.offline, self.interrupt = base, offline, interrupt
        self.uv = uv_command()

    def _run(self, command: list[str], work: Path, what: str) -> str:
        code, out, err = run_interruptibly(command, work, self.interrupt)
        if code != 0:
            text = (err or out).strip()
            lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("Using Python")]
            raise ResolutionError(f"{what} failed:\n" + "\n".join(lines[-12:]))
        return out

    def create_venv(self, target: Path, work: Path) -> None:
        if self.uv:
            self._run([self.uv, "venv", "-q", "--python", self.base.python, str(target)], work, "creating the venv")
        else:
            self._run([self.base.python, "-m", "venv", "--without-pip", str(target)], work, "creating the venv")
        site_dirs = list(target.glob("lib/python*/site-packages"))
        if not site_dirs:
            raise ResolutionError(f"creating the venv failed: no site-packages under {target}")
        # Executed by site.py after the venv's own site-packages: the base comes after the job's packages.
        (site_dirs[0] / "_trainjobs_base.pth").write_text(
            f"import site; list(map(site.addsitedir, {self.base.dirs!r}))\n")

    def install(self, target: Path, wheels: list[Path], needed: list[str], work: Path) -> list[str]:
        """Install ``wheels`` (without their dependencies) and ``needed`` resolved; returns what was installed."""
        python = str(target / "bin" / "python")
        if not self.uv:
            return self._pip_install(python, wheels, work)
        offline = ["--offline"] if self.offline else []
        index = uv_index_args()
        pins: list[str] = []
        if needed:
            (work / "needed.in").write_text("\n".join(needed) + "\n")
            out = work / "pins.txt"  # the base's versions as preferences: no upgrade under the base's packages
            out.write_text("".join(f"{name}=={version}\n" for name, version in sorted(self.base.dists.items())))
            self._run([self.uv, "pip", "compile", "-q", str(work / "needed.in"), "-o", str(out), "--python", python,
                       "--no-header", "--no-annotate", "--no-strip-markers", *index, *offline], work,
                      "resolving " + ", ".join(needed))
            pins = [ln.strip() for ln in out.read_text().splitlines()
                    if ln.strip() and not ln.startswith(("#", "-"))]
            pins = [p for p in pins if not self._in_base(p)]
        command = [self.uv, "pip", "install", "-q", "--python", python, "--no-deps", *index, *offline,
                   *(str(w) for w in wheels), *pins]
        self._run(command, work, "installing " + ", ".join([w.name for w in wheels] + pins))
        return [w.name for w in wheels] + pins

    def _in_base(self, pin: str) -> bool:
        name, sep, version = pin.split(";", 1)[0].strip().partition("==")
        return bool(sep) and self.base.dists.get(canonical(name)) == version.strip()

    def _pip_install(self, python: str, wheels: list[Path], work: Path) -> list[str]:
        offline = ["--no-index", *(f"--find-links={w.parent}" for w in wheels)] if self.offline else []
        out = self._run([python, "-m", "pip", "install", "--disable-pip-version-check", "--no-warn-script-location",
                         *offline, *(str(w) for w in wheels)], work, "pip install " + shlex.join(w.name for w in wheels))
        done = [ln.split("Successfully installed", 1)[1].split() for ln in out.splitlines()
                if "Successfully installed" in ln]
        return done[-1] if done else [w.name for w in wheels]
