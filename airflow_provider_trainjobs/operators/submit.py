"""``gcloud ai-platform jobs submit training`` as an Airflow task: validate, package, stage, submit, wait.

The order matters to users: the whole job body is validated before any package is built or uploaded, the
job id is derived from (dag, task, run, map index) so a retry re-attaches to the job an earlier try created
(or, when that job failed or was cancelled, submits exactly one replacement, ``<id>_r2``, ``_r3``, ...), and
the wait runs either in the worker (sync) or in the triggerer (``deferrable=True``) with the same deadlines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf

from airflow_provider_trainjobs.hooks.base import DEFAULT_CONN_ID, ON_CONFLICT
from airflow_provider_trainjobs.operators._common import (
    clean_str,
    run_labels,
)
from airflow_provider_trainjobs.operators._job_body import (
    config_source,
    job_labels,
    provisional_uris,
    user_arg_list,
)
from airflow_provider_trainjobs.operators._resubmit import ResubmitMixin
from airflow_provider_trainjobs.operators.links import TrainingJobLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_trainjobs.hooks.training import TrainingJobHook
    from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

__all__ = ["SubmitTrainingJobOperator"]

# Arguments that map 1:1 onto build_training_job keywords (gcloud flag names in snake_case).
_JOB_ARGUMENTS = (
    "module_name", "region", "job_dir", "scale_tier", "master_type", "worker_type", "parameter_server_type",
    "worker_count", "parameter_server_count", "runtime_version", "python_version", "max_wait_time",
    "max_running_time", "service_account", "master_image_uri", "hyperparameters",
)


class SubmitTrainingJobOperator(ResubmitMixin, BaseOperator):
    """Submit a training job the way ``gcloud ai-platform jobs submit training`` does and wait for it.

    Arguments carry gcloud's flag names; ``config`` is a path to a YAML/JSON file or a dict holding a Job
    resource, applied first, and every argument given replaces the whole field. Returns the final Job
    (the ``ml`` v1 resource as a dict) and pushes XCom ``job_id``. See docs/operators.md. The arguments that
    are not gcloud flags:

    :param gcp_conn_id: the connection: endpoints, project, backend, credentials (docs/connection.md).
    :param project_id: the project the job lives in; None uses the connection's ``project``.
    :param backend: ``"ai-platform"`` (the ``ml`` v1 protocol) or ``"vertex"``; None uses the connection's.
    :param executor_image_uri: Vertex AI only: the prebuilt container that runs the package, instead of the
        one ``runtime_version``/``python_version`` pick; None uses the connection's extra.
    :param deferrable: wait in the triggerer instead of the worker.
    :param poll_interval: seconds between polls of the job.
    :param deadline_grace: seconds past a job deadline (``maxWaitTime``/``maxRunningTime``) before the
        waiter cancels the job and fails.
    :param wait_for_completion: False returns right after the create, with the job as created.
    :param cancel_on_kill: cancel the job when the task is killed (sync and deferred).
    :param on_conflict: an existing job id with another spec: ``"attach"`` fails with JobSpecConflict,
        ``"fail"`` fails on any existing job, ``"suffix"`` creates ``<jobId>_<n>``.
    :param resubmit_failed: a FAILED/CANCELLED job of an earlier try is replaced by ``<jobId>_r2``, ...
    :param dry_run: validate, build and log the body (and its Vertex AI translation); build, upload and submit
        nothing, and return the body.
    :param impersonation_chain: a service account to impersonate, or a chain whose last entry is the target
        and whose others each hold the Token Creator role on the next (google-auth impersonated
        credentials, as Google's operators); recorded and logged only on the local service (templated).
    """

    template_fields: Sequence[str] = (
        "job_id", "package_path", "packages", "module_name", "staging_bucket", "job_dir", "region",
        "scale_tier", "master_type", "worker_type", "parameter_server_type", "worker_count",
        "parameter_server_count", "runtime_version", "python_version", "max_wait_time", "max_running_time",
        "service_account", "master_image_uri", "labels", "config", "user_args", "hyperparameters",
        "project_id", "gcp_conn_id", "backend", "executor_image_uri", "impersonation_chain",
    )
    template_fields_renderers = {"config": "json", "hyperparameters": "json", "labels": "json",
                                 "user_args": "json"}
    operator_extra_links = (TrainingJobLink(),)
    ui_color = "#d7e9f7"

    def __init__(
        self,
        *,
        job_id: str | None = None,
        package_path: str | None = None,
        packages: Sequence[str] | str | None = None,
        module_name: str | None = None,
        staging_bucket: str | None = None,
        job_dir: str | None = None,
        region: str | None = None,
        scale_tier: str | None = None,
        master_type: str | None = None,
        worker_type: str | None = None,
        parameter_server_type: str | None = None,
        worker_count: int | None = None,
        parameter_server_count: int | None = None,
        runtime_version: str | None = None,
        python_version: str | None = None,
        max_wait_time: str | int | timedelta | None = None,
        max_running_time: str | int | timedelta | None = None,
        service_account: str | None = None,
        master_image_uri: str | None = None,
        labels: dict[str, str] | None = None,
        config: str | dict[str, Any] | None = None,
        user_args: Sequence[Any] | None = None,
        hyperparameters: dict[str, Any] | None = None,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        project_id: str | None = None,
        backend: str | None = None,
        executor_image_uri: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        deadline_grace: float = 60.0,
        wait_for_completion: bool = True,
        cancel_on_kill: bool = True,
        on_conflict: str = "attach",
        resubmit_failed: bool = True,
        dry_run: bool = False,
        impersonation_chain: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_conflict not in ON_CONFLICT:
            raise ValueError(f"on_conflict: must be one of {', '.join(ON_CONFLICT)}; got {on_conflict!r}")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval: must be a positive number of seconds; got {poll_interval!r}")
        if on_conflict == "suffix" and resubmit_failed:
            raise ValueError(
                "on_conflict: 'suffix' cannot be combined with resubmit_failed=True: a retry looks for an earlier "
                "try's job only at <job_id> and <job_id>_r2, _r3, ..., never at the <job_id>_<n> ids 'suffix' "
                "creates, so it would submit a second job; pass resubmit_failed=False with on_conflict='suffix', "
                "or use on_conflict='attach' or 'fail'"
            )
        self.job_id = job_id
        self.package_path = package_path
        self.packages = packages
        self.module_name = module_name
        self.staging_bucket = staging_bucket
        self.job_dir = job_dir
        self.region = region
        self.scale_tier = scale_tier
        self.master_type = master_type
        self.worker_type = worker_type
        self.parameter_server_type = parameter_server_type
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count
        self.runtime_version = runtime_version
        self.python_version = python_version
        self.max_wait_time = max_wait_time
        self.max_running_time = max_running_time
        self.service_account = service_account
        self.master_image_uri = master_image_uri
        self.labels = labels
        self.config = config
        self.user_args = user_args
        self.hyperparameters = hyperparameters
        self.gcp_conn_id = gcp_conn_id
        self.project_id = project_id
        self.backend = backend
        self.executor_image_uri = executor_image_uri
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.deadline_grace = deadline_grace
        self.wait_for_completion = wait_for_completion
        self.cancel_on_kill = cancel_on_kill
        self.on_conflict = on_conflict
        self.resubmit_failed = resubmit_failed
        self.dry_run_only = dry_run  # not "dry_run": BaseOperator.dry_run() is a method
        self.impersonation_chain = impersonation_chain
        self._hook: TrainingJobHook | None = None
        self._job_region: str | None = None  # the built body's trainingInput.region (the hook's region)
        self._submitted_job_id: str | None = None
        self._lineage_job: dict[str, Any] | None = None  # the job this try ended with, for OpenLineage
        self._create_in_flight = False

    # -- building the job -------------------------------------------------------------------------------

    def _config_job(self) -> dict[str, Any]:
        """The Job resource ``config`` holds (empty without one); raises InvalidJobSpec for a bad file."""
        from airflow_provider_trainjobs.spec import load_config

        fileloc = getattr(self.dag, "fileloc", None) if self.has_dag() else None
        source = config_source(self.config, fileloc)
        return load_config(source) if source is not None else {}

    def _region(self, config_job: dict[str, Any]) -> str | None:
        """The job's region: ``region``, else the config's ``trainingInput.region``, else the connection's
        ``region`` extra (the hooks' one resolver, :func:`~airflow_provider_trainjobs.hooks.backend.resolve_region`)."""
        if self._job_region is not None:
            return self._job_region
        from airflow_provider_trainjobs.hooks.backend import resolve_region

        # A trainingInput that is not a mapping is left to build_training_job, which names the rule.
        body = config_job if isinstance(config_job.get("trainingInput") or {}, dict) else None
        return resolve_region(body, explicit=clean_str(self.region), default=self.hook.settings.region)

    def _job_arguments(self, config_job: dict[str, Any]) -> dict[str, Any]:
        """The ``build_training_job`` keywords this operator's arguments give. Subclasses refine them."""
        arguments: dict[str, Any] = {name: getattr(self, name) for name in _JOB_ARGUMENTS}
        arguments["region"] = self._region(config_job)
        if isinstance(self.user_args, str):
            from airflow_provider_trainjobs.spec import InvalidJobSpec

            raise InvalidJobSpec("user_args", f"must be a list of strings, one per argument; got the string "
                                              f"{self.user_args!r}")
        if self.user_args is not None:
            arguments["user_args"] = tuple(user_arg_list(self.user_args))
        return arguments

    def _build_body(self, job_id: str, package_uris: Sequence[str] | None, labels: dict[str, str] | None,
                    config_job: dict[str, Any] | None = None) -> dict[str, Any]:
        """The Job body gcloud would send, built and validated once; raises InvalidJobSpec naming the field."""
        from airflow_provider_trainjobs.spec import build_training_job

        if config_job is None:
            config_job = self._config_job()
        arguments = self._job_arguments(config_job)
        if package_uris is not None:
            arguments["package_uris"] = tuple(package_uris)
        return build_training_job(job_id, labels=labels, config=config_job or None,
                                  backend=self.hook.settings.backend, **arguments)

    def _provisional_uris(self) -> list[str] | None:
        """Stand-in packageUris for validating the body before anything is built or uploaded."""
        from airflow_provider_trainjobs.staging_plan import split_packages

        return provisional_uris(split_packages(self.packages), package_path=clean_str(self.package_path),
                                staging_bucket=clean_str(self.staging_bucket), job_dir=clean_str(self.job_dir))

    def prepare_job(self, context: Context) -> dict[str, Any]:
        """Validate, package and stage; returns the Job body ready to submit (no job is created here).

        The config is read once and the body built and validated once, with stand-in package URIs; staging
        then replaces only ``trainingInput.packageUris``.
        """
        self.staging_bucket, self.job_dir = clean_str(self.staging_bucket), clean_str(self.job_dir)
        config_job = self._config_job()
        job_id = clean_str(self.job_id) or config_job.get("jobId") or self._default_job_id(context)
        region = self._region(config_job)
        if region:
            self._job_region = region
            self.hook.use_region(region)
        labels = job_labels(run_labels(self.dag_id, self.task_id, str(context["run_id"])), self.labels, config_job)
        # 1. validate everything (with stand-in package URIs) before a byte is built or uploaded
        body = self._build_body(job_id, self._provisional_uris(), labels, config_job)
        vertex = self._check_vertex(body) if self.hook.settings.backend == "vertex" else None
        if self.dry_run_only:
            self._log_dry_run(body, vertex)
            return body
        # 2. package and stage
        from airflow_provider_trainjobs.staging_plan import split_packages

        packages = split_packages(self.packages)
        if not packages and not self.package_path:
            return body
        from airflow_provider_trainjobs.hooks.staging import StagingHook

        staged = StagingHook(self.gcp_conn_id, project_id=self.project_id,
                             impersonation_chain=self.impersonation_chain).stage_training_packages(
            package_path=self.package_path or None, packages=packages, job_id=job_id,
            staging_bucket=self.staging_bucket, job_dir=self.job_dir,
        )
        uris = [s.uri for s in staged]
        self.log.info("packageUris: %s", ", ".join(uris))
        body["trainingInput"]["packageUris"] = uris
        return body

    def _executor_image(self) -> str | None:
        """``executor_image_uri``, else the connection's ``executor_image_uri`` extra (Vertex only)."""
        return clean_str(self.executor_image_uri) or self.hook.settings.executor_image_uri

    def _check_vertex(self, body: dict[str, Any]) -> dict[str, Any]:
        """Translate the body to its Vertex AI job now, so what Vertex cannot run fails before any upload."""
        from airflow_provider_trainjobs.spec import to_vertex_job

        return dict(to_vertex_job(body, executor_image_uri=self._executor_image()))

    def _log_dry_run(self, body: dict[str, Any], vertex: dict[str, Any] | None) -> None:
        """``dry_run``: log the validated body (and its Vertex AI translation); nothing is uploaded or sent."""
        import json

        self.log.info("dry run: job %s is valid; nothing was built, uploaded or submitted. Its body (packageUris "
                      "are stand-ins: staging adds each upload's content digest):\n%s", body.get("jobId"),
                      json.dumps(body, indent=2, sort_keys=True))
        if vertex is not None:
            self.log.info("dry run: as a Vertex AI job:\n%s", json.dumps(vertex, indent=2, sort_keys=True))

    def _default_job_id(self, context: Context) -> str:
        from airflow_provider_trainjobs.naming import default_job_id

        map_index = getattr(context["ti"], "map_index", -1)
        return default_job_id(self.dag_id, self.task_id, str(context["run_id"]),
                              map_index if isinstance(map_index, int) else -1)

    # -- talking to the service ----------------------------------------------------------------------------

    @property
    def hook(self) -> TrainingJobHook:
        """The training hook for this task's connection, project, backend and the job's region."""
        if self._hook is None:
            self._hook = self._new_hook()
        return self._hook

    def _new_hook(self) -> TrainingJobHook:
        from airflow_provider_trainjobs.hooks.training import TrainingJobHook

        return TrainingJobHook(gcp_conn_id=self.gcp_conn_id, project_id=self.project_id, backend=self.backend,
                               region=self._job_region or clean_str(self.region),
                               impersonation_chain=self.impersonation_chain)

    def make_trigger(self, job_id: str) -> TrainingJobTrigger:
        """The trigger that waits for ``job_id`` in the triggerer (same deadlines as the sync wait)."""
        from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

        return TrainingJobTrigger(
            job_id=job_id,
            gcp_conn_id=self.gcp_conn_id,
            project_id=self.project_id,
            backend=self.backend,
            region=self._job_region or clean_str(self.region),
            poll_interval=self.poll_interval,
            grace=self.deadline_grace,
            cancel_on_kill=self.cancel_on_kill,
            impersonation_chain=self.impersonation_chain,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_trainjobs.hooks.errors import JobSpecConflict
        from airflow_provider_trainjobs.packaging import PackagingError
        from airflow_provider_trainjobs.spec import InvalidJobSpec
        from airflow_provider_trainjobs.staging_plan import StagingError

        try:
            body = self.prepare_job(context)
            if self.dry_run_only:
                return body
            job = self.submit_job(body)
        except (InvalidJobSpec, StagingError, PackagingError, JobSpecConflict) as err:
            # Bad input, or a job id taken by a different spec, fails the same way on every try: fail now
            # instead of waiting out the retries.
            raise AirflowFailException(str(err)) from err
        job_id = str(job["jobId"])
        context["ti"].xcom_push(key="job_id", value=job_id)
        url = self.hook.console_url(job_id, job)
        TrainingJobLink.persist(context, url)
        self.log.info("job page: %s", url)
        if not self.wait_for_completion:
            return job
        if job.get("state") == "SUCCEEDED":
            self.log.info("job %s already SUCCEEDED (an earlier try ran it): not running it again", job_id)
            return self.on_job_done(context, job)
        if self.deferrable:
            self.defer(trigger=self.make_trigger(job_id), method_name="execute_complete")
        final = self.hook.wait_for_job(
            job_id,
            poll_interval=self.poll_interval,
            grace=self.deadline_grace,
            cancel_on_deadline=True,
        )
        return self.on_job_done(context, final)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: return the SUCCEEDED job or fail with the job's error message."""
        from airflow_provider_trainjobs.hooks.waiting import raise_for_event

        job = raise_for_event(event)
        return self.on_job_done(context, job)

    def on_job_done(self, context: Context, job: dict[str, Any]) -> dict[str, Any]:
        """Called with the SUCCEEDED job in both modes; the return value becomes the task's XCom."""
        self._lineage_job = job
        return job

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage (when its provider is installed): inputs are the job's packages and the ``gs://`` URIs
        in its args, the output its job dir (Vertex AI's base output directory)."""
        from airflow_provider_trainjobs.operators._lineage import job_lineage, lineage_of

        return lineage_of(*job_lineage(self._lineage_job or {}))
