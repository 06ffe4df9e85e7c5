"""Run one DAG run in-process the way ``airflow dags trigger`` and the REST API create it: no logical date.

``airflow dags test DAG [DATE]`` always sets a logical date (today when none is given), so it cannot show
whether a DAG's templates need one. This runs ``dag.test(logical_date=None, run_after=...)`` instead.

    python scripts/dag_test.py DAG_ID [--run-after 2025-01-06T00:00:00+00:00] [-c '{"key": "value"}']

Reads ``AIRFLOW_HOME`` / ``AIRFLOW__CORE__DAGS_FOLDER`` like the airflow CLI; exits 1 when the run failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dag_id")
    parser.add_argument("--run-after", type=datetime.fromisoformat, default=None,
                        help="the run's run_after (ISO 8601; default: now)")
    parser.add_argument("-c", "--conf", type=json.loads, default=None, help="the run's conf, as JSON")
    args = parser.parse_args(argv)

    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(conf.get("core", "dags_folder"))
    if args.dag_id not in bag.dags:
        print(f"DAG {args.dag_id!r} not found; import errors: {bag.import_errors}", file=sys.stderr)
        return 2
    run_after = args.run_after or datetime.now(UTC)
    if run_after.tzinfo is None:
        run_after = run_after.replace(tzinfo=UTC)
    run = bag.dags[args.dag_id].test(logical_date=None, run_after=run_after, run_conf=args.conf)
    print(f"run {run.run_id}: logical_date={run.logical_date} run_after={run.run_after} state={run.state}")
    return 0 if run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
