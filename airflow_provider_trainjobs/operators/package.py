"""PackageTrainingAppOperator: the package-and-stage half of ``gcloud ai-platform jobs submit training``.

Builds ``package_path`` into an sdist (see :mod:`airflow_provider_trainjobs.packaging`) and stages it with
``packages`` (see :mod:`airflow_provider_trainjobs.staging_plan`); returns the ``gs://`` URIs, ready to be
a job's ``packageUris``. Heavy libraries load at execute time only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_trainjobs.hooks.base import DEFAULT_CONN_ID
from airflow_provider_trainjobs.operators._common import clean_str


class PackageTrainingAppOperator(BaseOperator):
    """Package a trainer (``package_path``) and stage it with ``packages``; return the ``gs://`` URIs.

    Local files go to ``gs://STAGING/<jobId>/<sha256>/<file>`` or ``<job_dir>/packages/<sha256>/<file>``; an
    unchanged trainer staged again for the same job id is not uploaded again, and for a new job id it is a
    server-side copy of the earlier upload (0 bytes sent; see docs/packaging.md). ``job_id`` defaults to a
    deterministic id from the dag, task and run ids and the map index (the same on every try). Bad input
    (``StagingError``, ``PackagingError``) fails the task at once as ``AirflowFailException``, before any upload.

    :param job_id: the id in the staging path (``gs://STAGING/<jobId>/...``); None derives it (templated).
    :param gcp_conn_id: the connection (storage endpoint, credentials). :param project_id: None uses its own.
    :param impersonation_chain: a service account to impersonate, or a chain whose last entry is the target
        (as for :class:`~airflow_provider_trainjobs.operators.SubmitTrainingJobOperator`; templated).
    """

    template_fields: Sequence[str] = ("package_path", "packages", "staging_bucket", "job_dir", "job_id",
                                      "project_id", "impersonation_chain")
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
        impersonation_chain: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.impersonation_chain = impersonation_chain
        self._lineage: tuple[list[str], list[str]] = ([], [])  # (passed through, staged) after execute
        self.package_path = package_path
        self.packages = packages
        self.staging_bucket = staging_bucket
        self.job_dir = job_dir
        self.job_id = job_id
        self.gcp_conn_id = gcp_conn_id
        self.project_id = project_id

    def resolve_job_id(self, context: Context) -> str:
        """The given ``job_id``, else one derived from dag id, task id, run id and map index."""
        job_id = clean_str(self.job_id)
        if job_id:
            return job_id
        from airflow_provider_trainjobs.naming import default_job_id

        map_index = getattr(context.get("ti"), "map_index", -1)
        return default_job_id(self.dag_id, self.task_id, str(context["run_id"]),
                              map_index if isinstance(map_index, int) else -1)

    def execute(self, context: Context) -> list[str]:
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_trainjobs.hooks.staging import StagingHook
        from airflow_provider_trainjobs.packaging import PackagingError
        from airflow_provider_trainjobs.staging_plan import StagingError, split_packages

        package_path = clean_str(self.package_path)
        packages = split_packages(self.packages)
        if not package_path and not packages:
            raise AirflowFailException("package_path/packages: give a trainer package dir, packages to stage, or both")
        hook = StagingHook(self.gcp_conn_id, project_id=self.project_id, impersonation_chain=self.impersonation_chain)
        job_id = self.resolve_job_id(context)
        try:
            # Every argument is checked before the build, the build before any upload (hooks/staging.py).
            staged = hook.stage_training_packages(
                package_path=package_path, packages=packages, job_id=job_id,
                staging_bucket=clean_str(self.staging_bucket), job_dir=clean_str(self.job_dir),
            )
        except (StagingError, PackagingError) as err:
            # Bad input fails the same way on every try: fail now instead of waiting out the retries.
            raise AirflowFailException(str(err)) from err
        uploaded = [s for s in staged if s.uploaded]  # the hook logged each upload or skip
        self.log.info("staged %d package(s) for job %s: %d uploaded (%d bytes), %d skipped", len(staged), job_id,
                      len(uploaded), sum(s.size or 0 for s in uploaded),
                      sum(1 for s in staged if s.size is not None and not s.uploaded))
        self._lineage = ([s.uri for s in staged if s.size is None], [s.uri for s in staged if s.size is not None])
        return [s.uri for s in staged]

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage (when its provider is installed): inputs are the ``gs://`` packages passed through, the
        outputs the packages this task staged."""
        from airflow_provider_trainjobs.operators._lineage import lineage_of, staging_lineage

        return lineage_of(*staging_lineage(*self._lineage))
