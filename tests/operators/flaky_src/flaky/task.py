"""A trainer whose first run fails: the run that finds no ``--marker`` object writes it, sleeps ``--sleep``
seconds and exits 1; every later run (the marker exists) succeeds at once. A transient failure a retry cures."""

import argparse
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--marker", required=True)  # gs://bucket/name
    parser.add_argument("--sleep", type=float, default=0.0)
    args, _ = parser.parse_known_args()
    from google.cloud import storage

    bucket, _, name = args.marker[len("gs://"):].partition("/")
    blob = storage.Client(project=os.environ["CLOUD_ML_PROJECT_ID"]).bucket(bucket).blob(name)
    if blob.exists():
        print("flaky trainer: marker found, succeeding", flush=True)
        return 0
    blob.upload_from_string("first run")
    print("flaky trainer: first run", flush=True)
    time.sleep(args.sleep)
    print("flaky trainer: first run fails on purpose", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
