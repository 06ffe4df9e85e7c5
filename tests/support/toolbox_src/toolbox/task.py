"""The one trainer the tests submit; ``--mode`` picks the behaviour under test.

``tiny`` (the default, for the hook, trigger, operator and sensor tests): prints ``--lines`` numbered lines,
sleeps ``--sleep`` seconds (default 0), then fails with ``--fail MESSAGE`` (exit 1) or ``--exit-code C`` (an
error line on stderr first), or else reports the hypertune metric ``accuracy = 1 - (x - 0.3)**2`` and exits 0.
The other modes serve the local service tests (their ``--sleep`` defaults to 60 and ``--exit-code`` to 3):
succeed, fail, sleep, setsid, stubborn, workerfail, longline, tfconfig, vertexenv, hp.
"""

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
    parser.add_argument("--mode", default="tiny")
    parser.add_argument("--job-dir", default="")
    parser.add_argument("--exit-code", type=int, default=None)
    parser.add_argument("--pid-file", default="")
    parser.add_argument("--sleep", type=float, default=None)
    parser.add_argument("--lines", type=int, default=0)
    parser.add_argument("--fail", default="")
    parser.add_argument("--x", type=float, default=0.0)
    parser.add_argument("--y", type=float, default=0.0)
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--kind", default="")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--fail-when-x", type=float, default=None)
    parser.add_argument("--tag", default="training/hptuning/metric")
    parser.add_argument("--vertex-exit", type=int, default=0)
    args, unknown = parser.parse_known_args()
    tiny = args.mode == "tiny"
    if args.sleep is None:
        args.sleep = 0.0 if tiny else 60.0
    if args.exit_code is None:
        args.exit_code = 0 if tiny else 3
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = tf_config.get("task", {})

    if tiny:
        print(f"tiny trainer started with x={args.x}", flush=True)
        for n in range(args.lines):
            print(f"tiny line {n + 1} of {args.lines}", flush=True)
        time.sleep(args.sleep)
        if args.fail:
            print(f"tiny trainer error: {args.fail}", file=sys.stderr, flush=True)
            return 1
        if args.exit_code:
            print("tiny trainer failing on purpose", file=sys.stderr, flush=True)
            return args.exit_code
        import hypertune

        accuracy = 1.0 - (args.x - 0.3) ** 2
        hypertune.HyperTune().report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag="accuracy", metric_value=accuracy, global_step=1
        )
        print(f"tiny trainer done: accuracy={accuracy:.4f}", flush=True)
        return 0
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
    if args.mode == "setsid":
        # A child that leaves the trainer's session: killing the process group alone misses it.
        child = subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(120)"])
        while os.getsid(child.pid) == os.getsid(0):
            time.sleep(0.01)
        with open(args.pid_file + ".tmp", "w") as fh:
            json.dump([os.getpid(), child.pid], fh)
        os.replace(args.pid_file + ".tmp", args.pid_file)
        time.sleep(args.sleep)
        return 0
    if args.mode == "stubborn":
        # Ignores SIGTERM, so a cancel stays CANCELLING until the SIGKILL.
        import signal

        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(args.pid_file + ".tmp", "w") as fh:
            json.dump([os.getpid()], fh)
        os.replace(args.pid_file + ".tmp", args.pid_file)
        time.sleep(args.sleep)
        return 0
    if args.mode == "workerfail":
        # Every replica but the workers sleeps; the workers fail.
        if task.get("type") == "worker":
            print("ValueError: worker failed on purpose", file=sys.stderr, flush=True)
            return args.exit_code
        time.sleep(args.sleep)
        return 0
    if args.mode == "longline":
        print("x" * (300 * 1024) + " end of the long line", flush=True)
        print("after the long line", flush=True)
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
    if args.mode == "vertexenv":
        # Vertex AI view: dump what this replica sees into the job's /gcs view ($TRAINJOBS_GCS_ROOT), which
        # the service uploads when the job ends; the primary waits until every replica has written its file.
        root = os.environ["TRAINJOBS_GCS_ROOT"]
        local = os.path.join(root, os.environ["AIP_MODEL_DIR"][len("gs://"):])
        spec = json.loads(os.environ["CLUSTER_SPEC"])
        names = ("AIP_MODEL_DIR", "AIP_CHECKPOINT_DIR", "AIP_TENSORBOARD_LOG_DIR", "CLOUD_ML_PROJECT_ID",
                 "CLOUD_ML_JOB_ID", "CLOUD_ML_TRIAL_ID", "STORAGE_EMULATOR_HOST", "TF_CONFIG", "CLUSTER_SPEC",
                 "POOL_VAR", "TRAINJOBS_GCS_ROOT")
        seen = {name: os.environ.get(name) for name in names}
        seen["argv"] = sys.argv[1:]
        inputs = os.path.join(root, args.kind[len("gs://"):]) if args.kind else ""
        seen["input"] = open(inputs).read() if inputs and os.path.exists(inputs) else None
        os.makedirs(os.path.join(local, "env"), exist_ok=True)
        me = f"{spec['task']['type']}-{spec['task']['index']}"
        with open(os.path.join(local, "env", me + ".json.tmp"), "w") as fh:
            json.dump(seen, fh)
        os.replace(os.path.join(local, "env", me + ".json.tmp"), os.path.join(local, "env", me + ".json"))
        print("vertex env dumped for " + me)
        if spec["task"]["type"] == "workerpool0":
            expected = sum(len(v) for v in spec["cluster"].values())
            for _ in range(400):
                if len([n for n in os.listdir(os.path.join(local, "env")) if n.endswith(".json")]) >= expected:
                    break
                time.sleep(0.02)
            if args.vertex_exit:
                print("ValueError: vertex trainer failed on purpose", file=sys.stderr)
                return args.vertex_exit
            return 0
        time.sleep(args.sleep)
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
                          "metric_file": os.environ.get("CLOUD_ML_HP_METRIC_FILE"),
                          "model_dir": os.environ.get("AIP_MODEL_DIR")}))
        return 0
    print(f"unknown mode {args.mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
