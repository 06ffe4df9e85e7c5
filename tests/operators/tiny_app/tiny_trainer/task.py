"""A trainer small enough for operator tests: its metric is a known function of ``--x``.

``--sleep`` keeps it running (for cancel, kill and deadline tests); ``--fail`` makes it exit with an error.
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--job-dir", default="")
    parser.add_argument("--x", type=float, default=0.0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--fail", default="")
    args, _ = parser.parse_known_args()
    print(f"tiny trainer started with x={args.x}", flush=True)
    time.sleep(args.sleep)
    if args.fail:
        sys.exit(f"tiny trainer error: {args.fail}")
    import hypertune

    accuracy = 1.0 - (args.x - 0.3) ** 2
    hypertune.HyperTune().report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="accuracy", metric_value=accuracy, global_step=1
    )
    print(f"tiny trainer done: accuracy={accuracy:.4f}", flush=True)


if __name__ == "__main__":
    main()
