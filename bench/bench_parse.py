"""DAG parse cost: the example retraining DAG vs the same shape built from Airflow's own operators.

Each measurement runs in a fresh interpreter (what a DAG processor pays per file on a cold
worker): ``airflow.sdk`` is imported first and timed separately, then the DAG file is executed
with ``runpy``. The baseline DAG has the same five tasks and dependencies made of ``@task`` and
``EmptyOperator``, so the difference is what this provider adds to parsing.
Runnable alone: ``.venv/bin/python bench/bench_parse.py``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "dags_examples" / "retraining_dag.py"
RUNS = 9

_BASELINE = '''
from datetime import datetime
from airflow.sdk import DAG, task
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="baseline", schedule="@weekly", start_date=datetime(2025, 1, 1), catchup=False) as dag:
    @task
    def prepare_data() -> str:
        return "gs://bucket/data.csv"

    @task
    def report() -> None:
        print("done")

    package = EmptyOperator(task_id="package")
    tune = EmptyOperator(task_id="tune")
    train_final = EmptyOperator(task_id="train_final")
    prepare_data() >> package >> tune >> train_final >> report()
'''

_PROBE = (
    "import sys, time, runpy; t0 = time.perf_counter(); import airflow.sdk; t1 = time.perf_counter();"
    "runpy.run_path(sys.argv[1]); t2 = time.perf_counter();"
    "heavy = [m for m in sys.modules if m.split('.')[0] in ('googleapiclient', 'setuptools', 'optuna')"
    " or m.startswith('google.cloud')];"
    "print(t1 - t0, t2 - t1, len(heavy))"
)


def _measure(path: Path) -> tuple[float, float, int]:
    """Medians (sdk import s, DAG file s) and the number of heavy modules the file loaded."""
    sdk, parse, heavy = [], [], 0
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    for _ in range(RUNS + 1):
        out = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True,
                             check=True, env=env)
        a, b, h = out.stdout.strip().splitlines()[-1].split()
        sdk.append(float(a))
        parse.append(float(b))
        heavy = int(h)
    # the first run warms the OS page cache for both files alike; drop it
    return statistics.median(sdk[1:]), statistics.median(parse[1:]), heavy


def run() -> str:
    """Measure both DAG files in the same run and return the markdown section."""
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="trainjobs-bench-home-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    with tempfile.TemporaryDirectory(prefix="trainjobs-parse-") as tmp:
        baseline = Path(tmp) / "baseline_dag.py"
        baseline.write_text(_BASELINE)
        base_sdk, base_parse, base_heavy = _measure(baseline)
        ex_sdk, ex_parse, ex_heavy = _measure(EXAMPLE)
    extra = ex_parse - base_parse
    return "\n".join([
        "## DAG parse cost",
        "",
        f"Fresh interpreter per run, median of {RUNS} (after one warm-up); `airflow.sdk` import timed "
        "separately and excluded.",
        "",
        "| DAG file | parse (after `airflow.sdk`) | Google client / setuptools / optuna modules loaded |",
        "|---|---:|---:|",
        f"| baseline: same 5 tasks from `@task` + `EmptyOperator` | {base_parse * 1000:.1f} ms | {base_heavy} |",
        f"| `dags_examples/retraining_dag.py` (this provider's operators) | {ex_parse * 1000:.1f} ms | {ex_heavy} |",
        "",
        f"This provider adds **{extra * 1000:+.1f} ms** per parse of the example DAG "
        f"({ex_parse / base_parse:.2f}x the baseline); `airflow.sdk` itself took "
        f"{statistics.median([base_sdk, ex_sdk]) * 1000:.0f} ms in the same runs.",
        "",
        "Reproduce: `make bench` or `.venv/bin/python bench/bench_parse.py`.",
    ]) + "\n"


if __name__ == "__main__":
    print(run())
