"""The pieces of a submit's Job body that need no service: config path, labels, stand-in package URIs.

Pure functions on the operator's rendered arguments, so a submit reads its config once and validates its
packages' URIs before anything is built or uploaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["config_source", "job_labels", "provisional_uris", "user_arg_list"]


def config_source(config: Any, dag_fileloc: str | None) -> Any:
    """``config`` with a relative file path resolved against the DAG file's folder when it exists there."""
    if isinstance(config, str | os.PathLike) and not Path(config).is_absolute():
        if dag_fileloc:
            candidate = Path(dag_fileloc).parent / config
            if candidate.is_file():
                return str(candidate)
    return config if config is None or isinstance(config, dict) else str(config)


def job_labels(run: Mapping[str, str], argument: Any, config_job: Mapping[str, Any]) -> Any:
    """The job's labels: the run's labels under the user's (``labels``, else the config's, replacing the
    whole field as gcloud does). A value that is not a mapping is passed on for ``build_training_job`` to
    refuse with its own message."""
    user = argument if argument is not None else config_job.get("labels")
    if user is None:
        return dict(run)
    if not isinstance(user, Mapping):
        return user
    return {**run, **user}


def provisional_uris(entries: Sequence[Any], *, package_path: str | None, staging_bucket: str | None,
                     job_dir: str | None) -> list[str] | None:
    """Stand-in ``packageUris`` for validating the body before anything is built or uploaded.

    ``gs://`` entries as given, then a URI under the staging destination for each local file and for the
    trainer ``package_path`` builds (its digest not known yet). None when there is no package at all.
    """
    from airflow_provider_trainjobs.staging_plan import staging_prefix

    if not entries and not package_path:
        return None
    texts = [str(e) for e in entries]
    uris = [e for e in texts if "://" in e]
    local = [e for e in texts if "://" not in e]
    if package_path:
        local.append(f"{Path(str(package_path)).name or 'trainer'}.tar.gz")
    if local:
        # A stand-in id: the real one is validated by build_training_job with its own message.
        bucket, prefix = staging_prefix(job_id="pending", staging_bucket=staging_bucket, job_dir=job_dir)
        uris += [f"gs://{bucket}/{'/'.join(p for p in (prefix, Path(n).name) if p)}" for n in local]
    return uris


def user_arg_list(user_args: Sequence[Any]) -> list[str]:
    """``user_args`` as the job's ``args``: a list entry (e.g. ``tune.output["best_trial_args"]``, a ready
    ``--name=value`` list) is spliced in place; every other entry becomes one string.

    A None entry is refused (``InvalidJobSpec``): it is an upstream XCom that was empty, such as the
    ``best_trial_args`` of a tuning job in which no trial reported the metric.
    """
    from airflow_provider_trainjobs.spec import InvalidJobSpec

    args: list[str] = []
    for index, entry in enumerate(user_args):
        if entry is None:
            raise InvalidJobSpec(f"user_args[{index}]", "is None: the XCom it comes from is empty (for "
                                 "best_trial_args: the tuning job had no best trial, see its task log)")
        if isinstance(entry, list | tuple):
            args.extend(str(a) for a in entry)
        else:
            args.append(str(entry))
    return args
