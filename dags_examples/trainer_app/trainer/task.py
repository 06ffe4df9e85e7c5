"""Entry point (`python -m trainer.task`): train the MLP, report accuracy to the tuning service,
checkpoint every few epochs and resume from the last checkpoint when restarted.

Hyperparameters arrive as command-line flags (``--learning-rate=0.05``), the way AI Platform
appends them to each tuning trial's args.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

import numpy as np

from trainer import model, util


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--job-dir", "--job_dir", default=None,
                        help="gs:// (or local) directory for checkpoints and the model; AI Platform passes it")
    parser.add_argument("--train-data", "--train_data", required=True, help="CSV with a header, last column 0/1")
    parser.add_argument("--learning-rate", "--learning_rate", type=float, default=0.5)
    parser.add_argument("--hidden-units", "--hidden_units", type=int, default=16)
    parser.add_argument("--l2", type=float, default=1e-4, help="L2 penalty on the weights")
    parser.add_argument("--num-epochs", "--num_epochs", type=int, default=20)
    parser.add_argument("--steps-per-epoch", "--steps_per_epoch", type=int, default=25)
    parser.add_argument("--checkpoint-every", "--checkpoint_every", type=int, default=5,
                        help="save a checkpoint every N epochs (and after the last one)")
    parser.add_argument("--eval-fraction", "--eval_fraction", type=float, default=0.25)
    parser.add_argument("--metric-tag", "--metric_tag", default="accuracy",
                        help="tag reported to cloudml-hypertune; match hyperparameterMetricTag")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.learning_rate <= 0 or args.hidden_units < 1 or args.num_epochs < 1 or args.checkpoint_every < 1:
        parser.error("--learning-rate must be > 0; --hidden-units, --num-epochs, --checkpoint-every must be >= 1")
    if not args.job_dir and not os.environ.get("AIP_MODEL_DIR"):
        parser.error("--job-dir is required unless AIP_MODEL_DIR is set (Vertex AI)")
    return args


def output_dirs(job_dir: str | None) -> tuple[str, str]:
    """(model dir, checkpoint dir): Vertex's AIP_* variables when set, else under --job-dir.

    A tuning trial (CLOUD_ML_TRIAL_ID set) writes under ``<job-dir>/<trial>/`` so trials never
    overwrite each other's model or resume from each other's checkpoints.
    """
    trial = os.environ.get("CLOUD_ML_TRIAL_ID")
    base = util.join(job_dir, trial) if job_dir and trial else job_dir
    model_dir = os.environ.get("AIP_MODEL_DIR") or util.join(base or "", "model")
    checkpoint_dir = os.environ.get("AIP_CHECKPOINT_DIR") or util.join(base or model_dir, "checkpoints")
    return model_dir, checkpoint_dir


def latest_checkpoint(checkpoint_dir: str) -> tuple[str, int] | None:
    found = []
    for name in util.list_names(checkpoint_dir):
        match = re.search(r"ckpt-(\d+)\.npz$", name)
        if match:
            found.append((int(match.group(1)), name))
    if not found:
        return None
    epoch, name = max(found)
    return name, epoch


def split(x: np.ndarray, y: np.ndarray, eval_fraction: float) -> tuple[np.ndarray, ...]:
    order = np.random.default_rng(1234).permutation(len(y))
    n_eval = max(1, int(len(y) * eval_fraction))
    train, held_out = order[n_eval:], order[:n_eval]
    return x[train], y[train], x[held_out], y[held_out]


def main(argv: list[str] | None = None) -> int:
    import hypertune

    args = parse_args(argv)
    started = time.process_time()
    model_dir, checkpoint_dir = output_dirs(args.job_dir)
    x, y = util.load_csv(args.train_data)
    x_train, y_train, x_eval, y_eval = split(x, y, args.eval_fraction)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-9
    x_train, x_eval = (x_train - mean) / std, (x_eval - mean) / std
    print(f"Loaded {len(y)} rows from {args.train_data}: {len(y_train)} train, {len(y_eval)} eval", flush=True)

    params = model.init_params(x.shape[1], args.hidden_units, args.seed)
    first_epoch = 1
    last = latest_checkpoint(checkpoint_dir)
    if last is not None:
        saved = model.from_npz(util.read_bytes(last[0]))
        params = {k: saved[k] for k in ("w1", "b1", "w2", "b2")}
        first_epoch = last[1] + 1
        print(f"Resuming from checkpoint {last[0]} (epoch {last[1]})", flush=True)
    else:
        print(f"No checkpoint in {checkpoint_dir}; starting from scratch", flush=True)

    reporter = hypertune.HyperTune()
    score = accuracy_now = model.accuracy(params, x_eval, y_eval)
    for epoch in range(first_epoch, args.num_epochs + 1):
        params = model.train_steps(params, x_train, y_train, learning_rate=args.learning_rate, l2=args.l2,
                                   steps=args.steps_per_epoch)
        accuracy_now = model.accuracy(params, x_eval, y_eval)
        loss = model.log_loss(params, x_eval, y_eval)
        score = accuracy_now
        print(f"epoch {epoch}/{args.num_epochs} loss={loss:.4f} {args.metric_tag}={accuracy_now:.4f}", flush=True)
        reporter.report_hyperparameter_tuning_metric(args.metric_tag, accuracy_now, global_step=epoch)
        if epoch % args.checkpoint_every == 0 or epoch == args.num_epochs:
            path = util.join(checkpoint_dir, f"ckpt-{epoch:06d}.npz")
            util.write_bytes(path, model.to_npz(params))
            print(f"Saved checkpoint {path}", flush=True)

    metrics = {
        args.metric_tag: score,
        "loss": model.log_loss(params, x_eval, y_eval),
        "epochs": args.num_epochs,
        "learning_rate": args.learning_rate,
        "hidden_units": args.hidden_units,
        "l2": args.l2,
        "trial": os.environ.get("CLOUD_ML_TRIAL_ID"),
        "cpu_seconds": round(time.process_time() - started, 3),
    }
    util.write_bytes(util.join(model_dir, "model.npz"), model.to_npz(params, mean=mean, std=std))
    util.write_bytes(util.join(model_dir, "metrics.json"), json.dumps(metrics, indent=2).encode(),
                     content_type="application/json")
    print(f"Wrote model to {util.join(model_dir, 'model.npz')} ({args.metric_tag}={score:.4f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
