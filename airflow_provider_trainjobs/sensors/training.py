"""Wait for any training job, by id, to reach a terminal state: poke, reschedule or deferrable.

Each poke reads the job once and hands it to ``hooks.waiting.observe`` — the same per-poll step the
operators' wait loop and the trigger run: only SUCCEEDED passes, FAILED/CANCELLED fail with the job's errorMessage, and a
job past its ``maxWaitTime``/``maxRunningTime`` (plus grace) is cancelled and the task fails naming the limit
(a job the service already cancelled for that limit fails the same way, with nothing cancelled). A tuning job's
progress ("3/20 trials done, best ...") is logged whenever it changes, and a quiet job gets a heartbeat line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, conf
from airflow.sdk.bases.sensor import PokeReturnValue

from airflow_provider_trainjobs.hooks.waiting import WaitState, raise_for_event
from airflow_provider_trainjobs.operators._common import push_best_trial
from airflow_provider_trainjobs.operators.connection import ConnectionArgsOperator
from airflow_provider_trainjobs.operators.links import TrainingJobLink
from airflow_provider_trainjobs.spec.waiting import DEFAULT_MAX_RUNNING_TIME

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_trainjobs.hooks.training import TrainingJobHook

__all__ = ["DEFAULT_MAX_RUNNING_TIME", "TrainingJobSensor", "timeout_for_job"]



def timeout_for_job(job: dict[str, Any], *, grace: float, queue_default: float) -> float:
    """Seconds a sensor may wait for ``job``: maxWaitTime (or ``queue_default``) + maxRunningTime + grace."""
    from airflow_provider_trainjobs.spec import parse_duration

    scheduling = (job.get("trainingInput") or {}).get("scheduling") or {}
    wait = parse_duration(scheduling["maxWaitTime"]) if scheduling.get("maxWaitTime") else queue_default
    running = (parse_duration(scheduling["maxRunningTime"]) if scheduling.get("maxRunningTime")
               else DEFAULT_MAX_RUNNING_TIME)
    return wait + running + grace


class TrainingJobSensor(ConnectionArgsOperator, BaseSensorOperator):
    """Succeeds when training job ``job_id`` SUCCEEDED; fails when it FAILED, was CANCELLED or ran past a deadline.

    Leave ``timeout`` unset to derive it from the job: ``maxWaitTime`` (or ``[sensors] default_timeout`` when the
    job has none) + ``maxRunningTime`` (default 7 days) + ``deadline_grace``, recomputed at every poke. The
    sensor's XCom is the final Job; for a tuning job it also pushes ``best_trial`` and ``best_trial_args``
    (``operators._common.push_best_trial``), in poke, reschedule and deferrable mode alike.
    """

    template_fields: Sequence[str] = ("job_id", *ConnectionArgsOperator.template_fields)
    operator_extra_links = (TrainingJobLink(),)
    ui_color = "#d7f7e3"

    def __init__(
        self,
        *,
        job_id: str,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        deadline_grace: float = 60.0,
        cancel_on_deadline: bool = True,
        timeout: float | timedelta | None = None,
        heartbeat_interval: float = 300.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, **kwargs)
        if heartbeat_interval < 0:
            raise ValueError(f"heartbeat_interval must be >= 0 seconds (0 turns it off); got {heartbeat_interval}")
        self.job_id = job_id
        self.deferrable = deferrable
        self.deadline_grace = deadline_grace
        self.cancel_on_deadline = cancel_on_deadline
        self.timeout_from_job = timeout is None
        self._hook: TrainingJobHook | None = None
        self.heartbeat_interval = heartbeat_interval
        self._wait_state = WaitState(stream_logs=False)  # kept across pokes in poke mode; reschedule starts fresh

    @property
    def hook(self) -> TrainingJobHook:
        """The training hook for this sensor's connection, project, backend and region."""
        if self._hook is None:
            self._hook = self.training_hook()
        return self._hook

    def execute(self, context: Context) -> Any:
        if not self.job_id:
            raise ValueError("job_id: required (the id of the job to wait for)")
        TrainingJobLink.persist(context, self.hook.console_url(self.job_id))
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)  # a job that already finished needs no trigger
        if first:
            return first.xcom_value if isinstance(first, PokeReturnValue) else None
        from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

        self.defer(
            trigger=TrainingJobTrigger(
                job_id=self.job_id, **self.connection_kwargs(), poll_interval=self.poke_interval,
                grace=self.deadline_grace, cancel_on_deadline=self.cancel_on_deadline, cancel_on_kill=False,
                heartbeat_interval=self.heartbeat_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: return the SUCCEEDED job or fail with its message."""
        job = raise_for_event(event)  # the trigger already logged the job's end, as a poke does
        push_best_trial(context, job, self.log)
        return job

    def poke(self, context: Context) -> bool | PokeReturnValue:
        from airflow_provider_trainjobs.hooks.waiting import conclude, drive, observe

        job = self.hook.get_job(self.job_id)
        if self.timeout_from_job:
            self.timeout = timeout_for_job(job, grace=self.deadline_grace,
                                           queue_default=conf.getfloat("sensors", "default_timeout"))
        status = observe(self.job_id, self._wait_state, job, now=datetime.now(UTC), grace=self.deadline_grace,
                         log=self.log, heartbeat=self.heartbeat_interval)
        if not status.done:
            return False
        final = drive(conclude(self.job_id, status, job, cancel_on_deadline=self.cancel_on_deadline, log=self.log),
                      lambda _cancel: self.hook.cancel_job(self.job_id, ignore_finished=True))
        push_best_trial(context, final, self.log)
        return PokeReturnValue(is_done=True, xcom_value=final)
