"""Custom containers for the local service: which engine runs them, and the ``run``/``kill`` command lines.

The engine is a Docker daemon when ``docker info`` answers, else podman (``serve --container-runtime`` names
another command line, e.g. podman with the flags a rootless or cgroup-limited machine needs). Every container
gets the host network (the replicas' TF_CONFIG addresses are 127.0.0.1 ports), the cloud's environment
variables passed by name, and the hypertune metric file's directory bind-mounted at the same path.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import threading
from pathlib import Path

AUTO = "auto"
_lock = threading.Lock()
_setting = AUTO
_answer: tuple[list[str] | None, str] | None = None


def configure(setting: str) -> None:
    """``auto`` (Docker if it answers, else podman) or a command line such as ``podman --runtime runc``;
    ValueError naming the option when it is not one."""
    global _setting, _answer
    try:
        words = shlex.split(setting or AUTO)
    except ValueError as err:
        raise ValueError(f"--container-runtime {setting!r}: not a command line ({err})") from None
    if not words:
        raise ValueError(f"--container-runtime {setting!r}: empty; use auto or a command such as podman")
    with _lock:
        _setting, _answer = setting or AUTO, None


def _answers(command: list[str]) -> tuple[bool, str]:
    try:
        proc = subprocess.run([*command, "info"], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, str(err)
    tail = (proc.stderr or "").strip().splitlines()[-1:] or [""]
    return proc.returncode == 0, tail[0]


def runtime() -> tuple[list[str] | None, str]:
    """(the engine's command line, "") when one answers; (None, why not) otherwise. Checked once per setting."""
    global _answer
    with _lock:
        if _answer is not None:
            return _answer
        if _setting != AUTO:
            command = shlex.split(_setting)
            ok, why = _answers(command) if command and shutil.which(command[0]) else (False, "not found")
            _answer = (command, "") if ok else (None, f"--container-runtime {_setting!r}: {why}")
            return _answer
        reasons = []
        for name in ("docker", "podman"):
            if shutil.which(name) is None:
                reasons.append(f"no {name} command on PATH")
                continue
            ok, why = _answers([name])
            if ok:
                _answer = ([name], "")
                return _answer
            reasons.append(f"{name}: {why}")
        _answer = (None, "; ".join(reasons))
        return _answer


def run_command(engine: list[str], name: str, image: str, env_names: list[str], command: list[str],
                args: list[str], mounts: list[tuple[Path, str]]) -> list[str]:
    """``<engine> run`` of one replica. ``command`` replaces the image's ENTRYPOINT (and its CMD) when given;
    ``args`` replace the image's CMD (ml v1 containerCommand/containerArgs, Vertex command/args); each
    ``(host dir, container path)`` of ``mounts`` is bind-mounted."""
    line = [*engine, "run", "--rm", "--network", "host", "--name", name]
    for key in dict.fromkeys(env_names):
        line += ["-e", key]
    for host, inside in mounts:
        line += ["-v", f"{host}:{inside}"]
    # "--" ends the engine's options: an imageUri such as "--privileged" is an (invalid) image, never a flag.
    if command:
        line += ["--entrypoint", command[0], "--", image, *command[1:]]
    else:
        line += ["--", image]
    return line + args


def kill(engine: list[str], name: str) -> None:
    """Stop and remove the container ``name`` (nothing when it is already gone)."""
    for verb in (["kill", name], ["rm", "-f", name]):
        try:
            subprocess.run([*engine, *verb], capture_output=True, timeout=30, stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
