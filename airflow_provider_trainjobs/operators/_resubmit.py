"""Which job a try of a submit uses (create it, attach to an earlier try's, or replace a failed one), and
cancelling that job when the task is killed.

A mixin of :class:`~airflow_provider_trainjobs.operators.submit.SubmitTrainingJobOperator` holding the walk over
``<jobId>``, ``<jobId>_r2``, ``<jobId>_r3``, ... (docs/operators.md, "Retries, clears and timeouts").
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from airflow_provider_trainjobs.hooks.training import TrainingJobHook

__all__ = ["CANCELLING_SETTLE_WAIT", "CREATE_IN_FLIGHT_WAIT", "MAX_JOB_ATTEMPTS", "RESUBMIT_STATES", "ResubmitMixin"]

# States of an existing job that a new try replaces (with resubmit_failed) instead of attaching to.
RESUBMIT_STATES = ("FAILED", "CANCELLED")
# How many jobs one task instance may submit in all (<id>, <id>_r2, ..., <id>_r100).
MAX_JOB_ATTEMPTS = 100
# How long a new try waits for an earlier try's job that is still CANCELLING to settle before deciding
# whether to attach to it or replace it (the service normally finishes a cancel within seconds).
CANCELLING_SETTLE_WAIT = 120.0
# How long on_kill waits for a create that was in flight to land before giving up on cancelling it (the
# supervisor follows its SIGTERM with SIGKILL after 5 s).
CREATE_IN_FLIGHT_WAIT = 4.0


class ResubmitMixin:
    """``submit_job``: the create-or-attach walk, recording the job id before the create; ``on_kill`` cancels
    that job."""

    on_conflict: str
    resubmit_failed: bool
    poll_interval: float
    cancel_on_kill: bool
    _hook: TrainingJobHook | None
    _submitted_job_id: str | None
    _create_in_flight: bool

    if TYPE_CHECKING:  # provided by the operator
        @property
        def log(self) -> Logger: ...

        @property
        def hook(self) -> TrainingJobHook: ...

        def _executor_image(self) -> str | None: ...

        def _new_hook(self) -> TrainingJobHook: ...

    def submit_job(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create this try's job, or attach to the one an earlier try created; returns the job.

        Walks ``<jobId>``, ``<jobId>_r2``, ``<jobId>_r3``, ...: a missing id is created; an existing job that
        is alive or SUCCEEDED is attached to (same spec, see ``on_conflict``); a FAILED or CANCELLED one is
        passed over when ``resubmit_failed`` (else attached to, and the wait fails at once). A job still
        CANCELLING is first watched (every ``poll_interval``, for up to ``CANCELLING_SETTLE_WAIT`` seconds)
        until it settles. So a crashed try finds the job it created, and a retry after a failure submits
        exactly one new job.
        """
        from airflow_provider_trainjobs.naming import resubmit_job_id

        base = str(body["jobId"])
        for attempt in range(1, MAX_JOB_ATTEMPTS + 1):
            job_id = resubmit_job_id(base, attempt)
            existing = self._existing_job(job_id)
            if existing is not None and self.resubmit_failed and existing.get("state") == "CANCELLING":
                existing = self._settled(job_id, existing)
            if existing is not None and self.resubmit_failed and existing.get("state") in RESUBMIT_STATES:
                self.log.info("job %s is %s: an earlier try's job; looking at the next id", job_id,
                              existing.get("state"))
                continue
            # Recorded before the create, so a kill while the request is in flight still cancels the job.
            self._submitted_job_id = job_id
            # Left set if the create is interrupted (e.g. by execution_timeout), for the on_kill that follows.
            self._create_in_flight = existing is None
            job = self.hook.create_job({**body, "jobId": job_id}, on_conflict=self.on_conflict,
                                       executor_image_uri=self._executor_image())
            self._create_in_flight = False
            self._submitted_job_id = str(job.get("jobId") or job_id)
            if existing is None:
                self.log.info("created training job %s", self._submitted_job_id)
            return job
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(
            f"job_id: {base} and {resubmit_job_id(base, 2)}..{resubmit_job_id(base, MAX_JOB_ATTEMPTS)} all "
            "failed or were cancelled; give a new job_id"
        )

    def _settled(self, job_id: str, job: dict[str, Any]) -> dict[str, Any]:
        """``job`` once it is no longer CANCELLING (an earlier try's job being cancelled: attaching to it
        would only fail); raises a retryable error if it is still CANCELLING after ``CANCELLING_SETTLE_WAIT``."""
        self.log.info("job %s is CANCELLING (an earlier try's job): waiting for it to settle", job_id)
        deadline = time.monotonic() + CANCELLING_SETTLE_WAIT
        while job.get("state") == "CANCELLING":
            if time.monotonic() >= deadline:
                from airflow.sdk.exceptions import AirflowException

                raise AirflowException(f"job {job_id} is still CANCELLING after {CANCELLING_SETTLE_WAIT:.0f}s; "
                                       "the next try looks at it again")
            time.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))
            job = self.hook.get_job(job_id)
        return job

    def _existing_job(self, job_id: str) -> dict[str, Any] | None:
        """The job named ``job_id``, or None when there is none."""
        from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError

        try:
            return self.hook.get_job(job_id)
        except TrainingJobApiError as err:
            if err.status == 404:
                return None
            raise

    def on_kill(self) -> None:
        """Cancel the job when the task is killed in the worker (``cancel_on_kill``), even mid-create.

        The task runner calls this on SIGTERM, whatever sent it: a user marking the task, an
        ``execution_timeout``, or the supervisor after lost heartbeats (see docs/operators.md).
        """
        job_id = self._submitted_job_id
        if not self.cancel_on_kill or not job_id:
            return
        from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError

        self.log.info("task killed: cancelling training job %s", job_id)
        # A hook of its own: on_kill may interrupt a request of self.hook on this very thread (a signal
        # handler), whose half-used HTTP connection must not carry the cancel. It reuses the settings already
        # read: looking the connection up again from a signal handler can deadlock the task's supervisor link.
        hook = self._hook.fresh_copy() if self._hook is not None else self._new_hook()
        deadline = time.monotonic() + CREATE_IN_FLIGHT_WAIT
        while True:
            in_flight = self._create_in_flight
            try:
                hook.cancel_job(job_id, ignore_finished=True)
                return
            except TrainingJobApiError as err:
                if err.status != 404:
                    raise
                if not in_flight or time.monotonic() > deadline:
                    self.log.info("job %s does not exist: nothing to cancel", job_id)
                    return
            # The create request is still on its way: the job appears when it lands.
            time.sleep(0.5)
