"""Trainer used by the local service tests; ``--mode`` picks the behaviour under test."""

import argparse
import json
import os
import subprocess
import sys
import time


def _gcs_write(uri: str, text: str) -> None:
    from google.cloud import storage

    bucket, _, name = uri[len("gs://"):].partition("/")
    storage.Client(project=os.environ["CLOUD_ML_PROJECT_ID"]).bucket(bucket).blob(name).upload_from_string(text)


def _gcs_count(prefix: str) -> int:
    from google.cloud import storage

    bucket, _, name = prefix[len("gs://"):].partition("/")
    client = storage.Client(project=os.environ["CLOUD_ML_PROJECT_ID"])
    return len(list(client.list_blobs(bucket, prefix=name)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="succeed")
    parser.add_argument("--job-dir", default="")
    parser.add_argument("--exit-code", type=int, default=3)
    parser.add_argument("--pid-file", default="")
    parser.add_argument("--sleep", type=float, default=60.0)
    parser.add_argument("--x", type=float, default=0.0)
    parser.add_argument("--y", type=float, default=0.0)
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--kind", default="")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--fail-when-x", type=float, default=None)
    parser.add_argument("--tag", default="training/hptuning/metric")
    args, unknown = parser.parse_known_args()
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = tf_config.get("task", {})

    if args.mode == "succeed":
        print("training started")
        print("WARNING: a warning on stderr", file=sys.stderr)
        model = {"job": os.environ.get("CLOUD_ML_JOB_ID"), "project": os.environ.get("CLOUD_ML_PROJECT_ID"),
                 "unknown": unknown}
        _gcs_write(args.job_dir.rstrip("/") + "/model/model.json", json.dumps(model))
        print("model written")
        return 0
    if args.mode == "fail":
        print("about to fail")
        print("Traceback (most recent call last):", file=sys.stderr)
        print("ValueError: boom: bad training data", file=sys.stderr)
        return args.exit_code
    if args.mode == "sleep":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        if args.pid_file:
            with open(args.pid_file + ".tmp", "w") as fh:
                json.dump([os.getpid(), child.pid], fh)
            os.replace(args.pid_file + ".tmp", args.pid_file)
        print("sleeping", flush=True)
        time.sleep(args.sleep)
        return 0
    if args.mode == "tfconfig":
        name = f"{task.get('type')}-{task.get('index')}"
        _gcs_write(f"{args.job_dir.rstrip('/')}/tfconfig/{name}.json", os.environ["TF_CONFIG"])
        expected = sum(len(v) for v in tf_config["cluster"].values())
        if task.get("type") in ("master", "chief"):
            for _ in range(200):
                if _gcs_count(f"{args.job_dir.rstrip('/')}/tfconfig/") >= expected:
                    return 0
                time.sleep(0.05)
            return 7
        if task.get("type") == "ps":
            time.sleep(120)
        return 0
    if args.mode == "hp":
        import hypertune

        if args.fail_when_x is not None and args.x == args.fail_when_x:
            print(f"x={args.x} is a failing value", file=sys.stderr)
            return 5
        hpt = hypertune.HyperTune()
        value = -((args.x - 3.0) ** 2) + args.n + {"a": 0.0, "b": 10.0, "c": 5.0}.get(args.kind, 0.0) + args.y
        for step in range(1, args.steps + 1):
            # Intermediate values approach the final one; a slow sleep lets early stopping act.
            hpt.report_hyperparameter_tuning_metric(
                hyperparameter_metric_tag=args.tag, metric_value=value - (args.steps - step), global_step=step
            )
            if step < args.steps:
                time.sleep(args.sleep)
        print(json.dumps({"trial": os.environ.get("CLOUD_ML_TRIAL_ID"), "value": value, "task": task,
                          "metric_file": os.environ.get("CLOUD_ML_HP_METRIC_FILE")}))
        return 0
    print(f"unknown mode {args.mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
