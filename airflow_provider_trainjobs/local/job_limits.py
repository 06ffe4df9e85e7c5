"""What the service keeps of each job (``serve``/``up`` options): its trainer log lines up to a cap, and its
work dir after it ends only with ``--keep-work-dirs``."""

from __future__ import annotations

import argparse

from airflow_provider_trainjobs.local.store import DEFAULT_MAX_LOG_BYTES, DEFAULT_MAX_LOG_ENTRIES, LogCap


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more; got {text}")
    return value


def _megabytes(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1e6:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be between 0 and 1000000 MB; got {text}")
    return value


def _flag(text: str) -> bool:
    """``--keep-work-dirs`` alone (what ``up`` passes on to ``serve``), or with an explicit true/false value."""
    if str(text).lower() in ("1", "true", "yes"):
        return True
    if str(text).lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false; got {text}")


def add_job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-log-entries", type=_count, default=DEFAULT_MAX_LOG_ENTRIES,
                        help="trainer log lines kept per job; later ones are counted, not stored (default 500000)")
    parser.add_argument("--max-log-mb", type=_megabytes, default=DEFAULT_MAX_LOG_BYTES / 1e6,
                        help="trainer log text kept per job in MB, whichever cap comes first (default 100)")
    parser.add_argument("--keep-work-dirs", nargs="?", const=True, default=False, type=_flag,
                        help="keep each job's work dir under <data-dir>/work after it ends (default: removed)")


def log_cap_from_args(args: argparse.Namespace) -> LogCap:
    return LogCap(max_entries=args.max_log_entries, max_bytes=int(args.max_log_mb * 1e6))
