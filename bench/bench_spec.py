"""Job spec cost: build_training_job on config files as they grow, and on hostile files at the limits.

Each case writes a config file to a temporary dir and times ``build_training_job(config=path)`` (median of
5, in this process): YAML and JSON configs whose ``args`` hold N = 1, 100, 1,000 and 9,500 strings (the
last just under the 10,000-value bound), then the inputs of issue 10 that crashed or hung: a 389-byte
alias bomb, a 50 MB file, a 100,000-deep JSON file, a 100,000-digit integer. The goal is 1 s for any input.
Runnable alone: ``.venv/bin/python bench/bench_spec.py``.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from airflow_provider_trainjobs.spec import InvalidJobSpec, build_training_job

LEVELS = (1, 100, 1000, 9_500)
RUNS = 5
GOAL_S = 1.0
_CODE = {"package_uris": ["gs://bench/trainer-0.1.tar.gz"], "module_name": "trainer.task", "region": "us-central1"}


def _yaml_args(n: int) -> str:
    return "trainingInput:\n  args:\n" + "".join(f"  - --flag-{i}=value\n" for i in range(n))


def _json_args(n: int) -> str:
    return json.dumps({"trainingInput": {"args": [f"--flag-{i}=value" for i in range(n)]}})


_BOMB = "\n".join([f"a: &a [{','.join('x' * 9)}]"]
                  + [f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)]
                  + ["trainingInput: {region: *i, args: *i}", ""])
HOSTILE: dict[str, tuple[str, Callable[[], str]]] = {
    f"YAML alias bomb ({len(_BOMB)} bytes, 9**9 values)": ("bomb.yaml", lambda: _BOMB),
    "50 MB YAML string": ("big.yaml", lambda: "trainingInput:\n  region: '" + "x" * 50_000_000 + "'\n"),
    "100,000-deep JSON": ("deep.json", lambda: "[" * 100_000 + "]" * 100_000),
    "5,000-deep YAML": ("deep.yaml", lambda: "trainingInput:\n  args:\n  " + "- " * 5_000 + "x\n"),
    "100,000-digit integer (YAML)": ("digits.yaml", lambda: "trainingInput: {workerCount: " + "9" * 100_000 + "}\n"),
}


def _time(path: Path) -> tuple[float, str]:
    """Median seconds of build_training_job on ``path`` and its outcome."""
    times, outcome = [], ""
    for _ in range(RUNS):
        started = time.perf_counter()
        try:
            build_training_job("bench_1", config=str(path), **_CODE)  # type: ignore[arg-type]
            outcome = "accepted"
        except InvalidJobSpec as err:
            outcome = f"`{err.field}`: {err.rule[:70]}…" if len(err.rule) > 70 else f"`{err.field}`: {err.rule}"
        times.append(time.perf_counter() - started)
    return statistics.median(times), outcome


def run() -> str:
    lines = ["## Job spec: config files and hostile input", "",
             f"`build_training_job(config=path)`, median of {RUNS}. Goal: any input answered within {GOAL_S:g} s.",
             "", "| config file | size | time | outcome |", "|---|---:|---:|---|"]
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        cases: list[tuple[str, str, str]] = []
        for n in LEVELS:
            cases.append((f"YAML, {n:,} args", f"args{n}.yaml", _yaml_args(n)))
            cases.append((f"JSON, {n:,} args", f"args{n}.json", _json_args(n)))
        cases += [(label, name, make()) for label, (name, make) in HOSTILE.items()]
        for label, name, text in cases:
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            seconds, outcome = _time(path)
            outcome = outcome.replace(tmp, "<tmp>")  # no path of the measuring machine in the docs
            worst = max(worst, seconds)
            lines.append(f"| {label} | {path.stat().st_size:,} B | {seconds * 1000:.1f} ms | {outcome} |")
    verdict = "met" if worst <= GOAL_S else "NOT met"
    lines += ["", f"Slowest case: {worst * 1000:.0f} ms; the {GOAL_S:g} s goal is {verdict}."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
