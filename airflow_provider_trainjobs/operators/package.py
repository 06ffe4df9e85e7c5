"""PackageTrainingAppOperator: the package-and-stage half of ``gcloud ai-platform jobs submit training``.

Builds ``package_path`` into an sdist (see :mod:`airflow_provider_trainjobs.packaging`) and stages it with
``packages`` (see :mod:`airflow_provider_trainjobs.hooks.staging`); returns the ``gs://`` URIs, ready to be
a job's ``packageUris``. Heavy libraries load at execute time only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_trainjobs.hooks.base import DEFAULT_CONN_ID


class PackageTrainingAppOperator(BaseOperator):
    """Package a trainer (``package_path``) and stage it with ``packages``; return the ``gs://`` URIs.

    Local files go to ``gs://STAGING/<jobId>/<sha256>/<file>`` or ``<job_dir>/packages/<sha256>/<file>``; an
    unchanged trainer lands on the same URI every time and is not uploaded again. ``job_id`` defaults to a
    deterministic id from the dag, task and run ids (the same on every try).
    """

    template_fields: Sequence[str] = ("package_path", "packages", "staging_bucket", "job_dir", "job_id",
                                      "project_id")
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        package_path: str | None = None,
        packages: Sequence[str] | str = (),
        staging_bucket: str | None = None,
        job_dir: str | None = None,
        job_id: str | None = None,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        project_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.package_path = package_path
        self.packages = packages
        self.staging_bucket = staging_bucket
        self.job_dir = job_dir
        self.job_id = job_id
        self.gcp_conn_id = gcp_conn_id
        self.project_id = project_id

    def resolve_job_id(self, context: Context) -> str:
        """The given ``job_id``, else one derived from dag id, task id and run id."""
        if self.job_id:
            return str(self.job_id)
        from airflow_provider_trainjobs.naming import default_job_id

        return default_job_id(self.dag_id, self.task_id, str(context["run_id"]))

    def execute(self, context: Context) -> list[str]:
        from airflow_provider_trainjobs.hooks.staging import StagingHook, plan_staging, staging_prefix
        from airflow_provider_trainjobs.packaging import build_training_package

        packages = [p.strip() for p in self.packages.split(",") if p.strip()] if isinstance(self.packages, str) \
            else [str(p) for p in self.packages]
        if not self.package_path and not packages:
            raise ValueError("package_path/packages: give a trainer package dir, packages to stage, or both")
        job_id = self.resolve_job_id(context)
        # Fail on bad staging arguments before spending time on a build (nothing is uploaded either way).
        plan_staging(packages, job_id=job_id, staging_bucket=self.staging_bucket, job_dir=self.job_dir)
        if self.package_path:
            staging_prefix(job_id=job_id, staging_bucket=self.staging_bucket, job_dir=self.job_dir)
        hook = StagingHook(self.gcp_conn_id, project_id=self.project_id)
        with tempfile.TemporaryDirectory(prefix="trainjobs-package-") as out_dir:
            if self.package_path:
                built = build_training_package(self.package_path, out_dir)
                self.log.info(
                    "built %s from %s: %d bytes, sha256 %s%s", built.path.name, self.package_path, built.size,
                    built.sha256, " (with a generated setup.py)" if built.generated_setup else "",
                )
                packages.append(str(built.path))
            staged = hook.stage_packages(packages, job_id=job_id, staging_bucket=self.staging_bucket,
                                         job_dir=self.job_dir)
        uploaded = [s for s in staged if s.uploaded]  # the hook logged each upload or skip
        self.log.info("staged %d package(s) for job %s: %d uploaded (%d bytes), %d skipped", len(staged), job_id,
                      len(uploaded), sum(s.size or 0 for s in uploaded),
                      sum(1 for s in staged if s.size is not None and not s.uploaded))
        return [s.uri for s in staged]
