"""Packaging and staging benchmark: build time vs the usual sdist commands, re-staging bytes, operator import cost.

Everything runs on a temporary copy of ``dags_examples/trainer_app`` (or the seed documents' layout when the
example is missing), so the baselines' egg-info/dist never land in the repository. Runnable alone:
``.venv/bin/python bench/bench_packaging.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from airflow_provider_trainjobs.local.launcher import start_storage_emulator, stop_process

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "dags_examples" / "trainer_app"
BUILD_RUNS = 7
IMPORT_RUNS = 9
GOAL_IMPORT_MS = 50.0


def _example_copy(dest: Path) -> tuple[Path, str]:
    """A throwaway copy of the example trainer project; returns (project dir, where it came from)."""
    if (EXAMPLE / "setup.py").is_file() and (EXAMPLE / "trainer" / "__init__.py").is_file():
        shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist"))
        return dest, "dags_examples/trainer_app"
    trainer = dest / "trainer"
    trainer.mkdir(parents=True)
    for name in ("__init__.py", "task.py", "model.py", "util.py"):
        (trainer / name).write_text(f"# {name} of the seed layout\n")
    (dest / "setup.py").write_text(
        "from setuptools import find_packages, setup\n"
        "setup(name='trainer', version='0.1', packages=find_packages(), include_package_data=True)\n"
    )
    return dest, "the seed documents' layout (dags_examples/trainer_app missing)"


def _median_seconds(fn: Callable[[], object], runs: int, cleanup: Callable[[], None] | None = None) -> float:
    fn()  # warm the file cache and bytecode
    times = []
    for _ in range(runs):
        if cleanup:
            cleanup()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _bench_builds(project: Path, scratch: Path) -> list[tuple[str, float]]:
    from airflow_provider_trainjobs.packaging import build_training_package

    def clean() -> None:
        for leftover in ("trainer.egg-info", "build", "dist"):
            shutil.rmtree(project / leftover, ignore_errors=True)

    def setup_py() -> None:
        subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(scratch / "sd")], cwd=project,
                       check=True, capture_output=True)

    def pypa_build() -> None:
        subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(scratch / "pb")],
                       cwd=project, check=True, capture_output=True)

    ours = _median_seconds(lambda: build_training_package(project / "trainer", scratch / "ours"), BUILD_RUNS)
    return [
        ("`build_training_package` (temp copy, subprocess, deterministic re-pack)", ours),
        ("`python setup.py sdist`", _median_seconds(setup_py, BUILD_RUNS, clean)),
        ("`python -m build --sdist --no-isolation`", _median_seconds(pypa_build, BUILD_RUNS, clean)),
    ]


def _bench_restaging(project: Path, scratch: Path) -> tuple[int, int, int]:
    """(bytes uploaded the first time, bytes uploaded by a second staging, number of packages)."""
    endpoint, proc = start_storage_emulator(scratch / "gcs")
    try:
        os.environ["AIRFLOW_CONN_TRAINJOBS_BENCH"] = json.dumps(
            {"conn_type": "trainjobs", "extra": {"project": "local-project", "storage_endpoint": endpoint}})
        from airflow_provider_trainjobs.hooks.staging import StagingHook
        from airflow_provider_trainjobs.packaging import build_training_package

        StagingHook("trainjobs_bench").get_conn().create_bucket("bench-staging")
        dep = scratch / "dep-1.0-py3-none-any.whl"
        dep.write_bytes(os.urandom(64 * 1024))

        def stage() -> int:
            built = build_training_package(project / "trainer", scratch / "stage")  # rebuilt: same bytes
            staged = StagingHook("trainjobs_bench").stage_packages(
                [str(dep), str(built.path)], job_id="bench_job", staging_bucket="gs://bench-staging")
            return sum(s.size or 0 for s in staged if s.uploaded)

        first, second = stage(), stage()
        return first, second, 2
    finally:
        stop_process(proc)


_IMPORT_PROBE = (
    "import time; t0 = time.perf_counter();"
    "from airflow.sdk import BaseOperator; t1 = time.perf_counter();"
    "from airflow_provider_trainjobs.operators import PackageTrainingAppOperator; t2 = time.perf_counter();"
    "print(t1 - t0, t2 - t1)"
)


def _bench_import() -> tuple[float, float]:
    """Median seconds of a bare ``from airflow.sdk import BaseOperator`` and of the operator import on top."""
    sdk, extra = [], []
    for _ in range(IMPORT_RUNS):
        out = subprocess.run([sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, check=True)
        a, b = out.stdout.strip().splitlines()[-1].split()
        sdk.append(float(a))
        extra.append(float(b))
    return statistics.median(sdk), statistics.median(extra)


def run() -> str:
    """Measure everything side by side and return the markdown section for docs/benchmarks.md."""
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="trainjobs-bench-home-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    with tempfile.TemporaryDirectory(prefix="trainjobs-bench-") as tmp:
        scratch = Path(tmp)
        project, source = _example_copy(scratch / "trainer_app")
        builds = _bench_builds(project, scratch)
        first_bytes, second_bytes, n_packages = _bench_restaging(project, scratch)
    sdk_s, extra_s = _bench_import()

    ours, setup_py, pypa = (t for _, t in builds)
    lines = [
        "## Packaging and staging",
        "",
        f"Trainer: a copy of {source}. Build times are medians of {BUILD_RUNS} runs after one warm-up; "
        "the baselines run in the project copy with its egg-info/dist removed between runs.",
        "",
        "| build | median | vs `python -m build --sdist --no-isolation` |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {t * 1000:.0f} ms | {t / pypa:.2f}x |" for name, t in builds]
    lines += [
        "",
        f"Goal: packaging at least as fast as `python -m build --sdist --no-isolation` — "
        f"**{'met' if ours <= pypa else 'NOT met'}** ({ours * 1000:.0f} ms vs {pypa * 1000:.0f} ms; "
        f"`setup.py sdist` alone: {setup_py * 1000:.0f} ms).",
        "",
        f"Re-staging unchanged code ({n_packages} local packages, trainer rebuilt from scratch, storage emulator): "
        f"first staging uploaded {first_bytes} bytes, the second **{second_bytes} bytes** "
        f"(goal 0: **{'met' if second_bytes == 0 else 'NOT met'}**).",
        "",
        f"Import cost (fresh interpreter each time, median of {IMPORT_RUNS}): `from airflow.sdk import BaseOperator` "
        f"{sdk_s * 1000:.0f} ms; then `from airflow_provider_trainjobs.operators import "
        f"PackageTrainingAppOperator` **+{extra_s * 1000:.1f} ms** ({extra_s / sdk_s:.1%} on top; goal < "
        f"{GOAL_IMPORT_MS:.0f} ms: **{'met' if extra_s * 1000 < GOAL_IMPORT_MS else 'NOT met'}**).",
        "",
        "Reproduce: `make bench` (all sections) or `.venv/bin/python bench/bench_packaging.py` (this one).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    print(run())
