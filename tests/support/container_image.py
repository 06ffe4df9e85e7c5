"""A container image built offline for the custom-container tests: this machine's CPython (binary, shared
libraries, a pruned standard library) at its own paths plus a trainer, imported with ``podman import``.

No registry is reached: the root filesystem is assembled here and imported as one layer (about 15 MB).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

# The engine command line and the containers.conf the tests use (docs/local-service.md "Containers").
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--storage-driver", "vfs"]


def podman(storage: Path) -> list[str]:
    """The podman command line of the tests: runc, cgroupfs, vfs, and a storage of their own under ``storage``."""
    return [*PODMAN, "--root", str(storage / "root"), "--runroot", str(storage / "run")]
CONTAINERS_CONF = "[containers]\ndefault_ulimits = []\n"
_SKIP = {"test", "idlelib", "tkinter", "ensurepip", "lib2to3", "turtledemo", "pydoc_data", "site-packages",
         "dist-packages", "__pycache__", "unittest", "venv", "distutils"}

# A trainer in the style AI Platform documents for custom containers: flags in, hypertune metric out.
TRAINER = '''\
import json, os, sys, time, urllib.request
print("container argv", json.dumps(sys.argv[1:]), flush=True)
env = {k: os.environ.get(k) for k in ("CLOUD_ML_JOB_ID", "CLOUD_ML_TRIAL_ID", "AIP_MODEL_DIR")}
print("container env", json.dumps(env, sort_keys=True), flush=True)
task = json.loads(os.environ["TF_CONFIG"])["task"]
print("container task", task["type"], task["index"], flush=True)
with urllib.request.urlopen(os.environ["STORAGE_EMULATOR_HOST"] + "/storage/v1/b?project=p", timeout=10) as r:
    print("container reached storage", r.status, flush=True)
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
if "sleep" in args:
    time.sleep(float(args["sleep"]))
metric_file = os.environ.get("CLOUD_ML_HP_METRIC_FILE")
if metric_file:
    value = -(float(args.get("x", "0")) - 2) ** 2
    os.makedirs(os.path.dirname(metric_file), exist_ok=True)
    with open(metric_file, "w") as out:
        out.write(json.dumps({"timestamp": time.time(), "trial": os.environ.get("CLOUD_ML_TRIAL_ID", ""),
                              "accuracy": str(value), "global_step": "1"}) + "\\n")
print("container trainer failing with", args.get("exit-code", "0"), file=sys.stderr, flush=True)
sys.exit(int(args.get("exit-code", "0")))
'''


def _libraries(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        proc = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
        for line in proc.stdout.splitlines():
            match = re.search(r"(/\S+) \(0x", line)
            if match:
                found.add(match.group(1))
    return found


def _rootfs_tar(work: Path) -> Path:
    python = Path(os.path.realpath(sys._base_executable))  # type: ignore[attr-defined]
    stdlib = Path(sysconfig.get_paths("posix_prefix", vars={"base": sys.base_prefix,
                                                            "installed_base": sys.base_prefix})["stdlib"])
    dynload = stdlib / "lib-dynload"
    tar_path = work / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        for directory in ("tmp", "etc", "app/trainer"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        modules = [m for m in dynload.glob("*.so") if not m.name.startswith("_tkinter")]
        for lib in sorted(_libraries([python, *modules]) | {str(python)}):
            tar.add(os.path.realpath(lib), arcname=lib.lstrip("/"))
        for path in sorted(stdlib.rglob("*")):
            parts = set(path.relative_to(stdlib).parts)
            if parts & _SKIP or any(p.startswith("config-") for p in parts) or path.name.startswith("_tkinter") \
                    or not path.is_file():
                continue
            tar.add(path, arcname=str(path).lstrip("/"), recursive=False)
        for name, text in (("app/trainer/__init__.py", ""), ("app/trainer/task.py", TRAINER)):
            source = work / name.replace("/", "_")
            source.write_text(text)
            tar.add(source, arcname=name)
    return tar_path


def build_trainer_image(engine: list[str], name: str, work: Path) -> str:
    """Import the image ``name`` (ENTRYPOINT ``python -m trainer.task``); returns its reference."""
    python = os.path.realpath(sys._base_executable)  # type: ignore[attr-defined]
    tar_path = _rootfs_tar(work)
    changes = [f"ENTRYPOINT {json.dumps([python, '-m', 'trainer.task'])}", "ENV PYTHONPATH=/app",
               "ENV PYTHONUNBUFFERED=1", "WORKDIR /app"]
    command = [*engine, "import"]
    for change in changes:
        command += ["--change", change]
    subprocess.run([*command, str(tar_path), name], check=True, capture_output=True, text=True, timeout=600)
    shutil.rmtree(work, ignore_errors=True)
    return f"localhost/{name}:latest"


def engine_environment(work: Path) -> dict[str, str]:
    """The environment the container engine needs here: CONTAINERS_CONF without the default ulimits."""
    conf = work / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    return {"CONTAINERS_CONF": str(conf)}
