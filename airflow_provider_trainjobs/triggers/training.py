"""TrainingJobTrigger: waits for a training job in the triggerer, for deferrable operators and sensors.

A thin shell: it registers its job with the process's poller for its connection (hooks/poller.py), which
refreshes every waiting job with a few batched requests per interval, and runs the same wait loop
(hooks/waiting.py) the sync path runs on those answers: same deadlines, same state/log messages, same
tolerance of transient errors. Its kwargs stay plain and serialisable; where its log tailing stands is
saved on the triggerer's disk (triggers/log_resume.py), so a restarted triggerer does not print it again.
It fires exactly one event: ``{"status": "success"|"error"|"deadline", "limit", "job_id", "job",
"message", "log_cursor"}``; ``limit`` is "maxWaitTime"/"maxRunningTime" on a deadline event (whether the
waiter or the service itself cancelled the job) and None otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_trainjobs.hooks.base import DEFAULT_CONN_ID, connection_kwargs
from airflow_provider_trainjobs.hooks.errors import TrainingJobFailed
from airflow_provider_trainjobs.triggers import log_resume

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_trainjobs.hooks.logs import LogCursor
    from airflow_provider_trainjobs.hooks.training import TrainingJobHook

# Airflow 3.3's triggerer gives on_kill [triggerer] on_kill_timeout (30s by default) before it gives up;
# the hook's cancel retries for at most CANCEL_RETRY_TOTAL (20s), and this bounds one slow request too.
CANCEL_TIMEOUT = 25.0


class TrainingJobTrigger(BaseTrigger):
    """Poll ``job_id`` until it is terminal or past a deadline; cancel it on a user kill if asked.

    :param log_cursor: where the trainer-log tailing stopped before deferring
        (``LogCursor.to_dict()``), so no line is printed twice; the event carries the new one.
    :param log_window: seconds of log re-read before the newest line printed, so entries that reach
        Cloud Logging late are still printed (once).
    :param heartbeat_interval: seconds of silence before a "still RUNNING" line (0: none).
    :param impersonation_chain: service account(s) to impersonate, as for the hooks (Google's rule: the
        last one is the target); triggers with different chains do not share a poller.
    """

    def __init__(
        self,
        job_id: str,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        project_id: str | None = None,
        backend: str | None = None,
        region: str | None = None,
        poll_interval: float = 10.0,
        grace: float = 60.0,
        cancel_on_deadline: bool = True,
        cancel_on_kill: bool = True,
        stream_logs: bool = True,
        log_cursor: dict[str, Any] | None = None,
        log_window: float = 2.0,
        max_retries: int = 5,
        retry_delay: float = 1.0,
        heartbeat_interval: float = 300.0,
        impersonation_chain: str | Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.gcp_conn_id = gcp_conn_id
        self.project_id = project_id
        self.backend = backend
        self.region = region
        self.poll_interval = poll_interval
        self.grace = grace
        self.cancel_on_deadline = cancel_on_deadline
        self.cancel_on_kill = cancel_on_kill
        self.stream_logs = stream_logs
        self.log_cursor = log_cursor
        self.log_window = log_window
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.heartbeat_interval = heartbeat_interval
        self.impersonation_chain = (impersonation_chain if impersonation_chain is None or isinstance(
            impersonation_chain, str) else list(impersonation_chain))  # kwargs stay JSON

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and the kwargs that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                **connection_kwargs(self),
                "poll_interval": self.poll_interval,
                "grace": self.grace,
                "cancel_on_deadline": self.cancel_on_deadline,
                "cancel_on_kill": self.cancel_on_kill,
                "stream_logs": self.stream_logs,
                "log_cursor": self.log_cursor,
                "log_window": self.log_window,
                "max_retries": self.max_retries,
                "retry_delay": self.retry_delay,
                "heartbeat_interval": self.heartbeat_interval,
            },
        )

    def hook(self) -> TrainingJobHook:
        """A hook for this trigger's connection (built per use: hooks hold no cross-await state)."""
        from airflow_provider_trainjobs.hooks.training import TrainingJobHook

        return TrainingJobHook(**connection_kwargs(self), max_retries=self.max_retries, retry_delay=self.retry_delay)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait through the process's poller (the shared wait loop on its answers); yield exactly one event."""
        from airflow_provider_trainjobs.hooks.logs import LogCursor
        from airflow_provider_trainjobs.hooks.poller import JobPoller
        from airflow_provider_trainjobs.hooks.waiting import WaitState, check_wait_args, event_for, wait_steps

        saved_at = log_resume.cursor_path(getattr(self, "trigger_id", None), self.job_id, self.log_cursor)
        saved = log_resume.load(saved_at)
        cursor = LogCursor.from_dict(saved or self.log_cursor)
        cursor.window = self.log_window
        state = WaitState(cursor=cursor, stream_logs=self.stream_logs)
        if self.stream_logs:
            self._say_where_tailing_starts(cursor, resumed=saved is not None)
        checkpoint = _Checkpoint(saved_at, cursor)
        try:
            check_wait_args(self.poll_interval, self.grace, self.heartbeat_interval)
            hook = self.hook()
            poller = await JobPoller.for_job(self.gcp_conn_id, self.project_id, self.region, self.backend,
                                             self.impersonation_chain)
            steps = wait_steps(self.job_id, state, poll_interval=self.poll_interval, grace=self.grace,
                               cancel_on_deadline=self.cancel_on_deadline, retry=hook.retry_policy, log=self.log,
                               heartbeat=self.heartbeat_interval)
            await hook.aget_settings()  # for a cancel at a deadline, which runs on the executor
            watch = poller.watch(self.job_id, state, self.poll_interval)
            try:
                job = await poller.wait(watch, steps, cancel=lambda: hook.cancel_job(self.job_id),
                                        checkpoint=checkpoint)
            finally:
                poller.unwatch(watch)
            event = event_for(self.job_id, state, job)
        except Exception as err:  # noqa: BLE001 - any failure becomes the one event
            if not isinstance(err, TrainingJobFailed):
                self.log.exception("Waiting for job %s failed", self.job_id)
            event = event_for(self.job_id, state, error=err)
        log_resume.forget(saved_at)
        yield TriggerEvent(event)

    def _say_where_tailing_starts(self, cursor: LogCursor, *, resumed: bool) -> None:
        """One line naming where this trigger's tailing starts, so a repeat after a restart is visible."""
        if resumed:
            self.log.info("Resuming the log lines of job %s after %s, where an earlier triggerer stopped",
                          self.job_id, cursor.timestamp)
        elif cursor.timestamp:
            self.log.info("Log lines of job %s from %s on (after the last line printed before deferring)",
                          self.job_id, cursor.timestamp)
        else:
            self.log.info("Log lines of job %s from the start of its log", self.job_id)

    async def on_kill(self) -> None:
        """The user killed the deferred task: cancel the job when ``cancel_on_kill``."""
        if not self.cancel_on_kill:
            self.log.info("Task killed; job %s left running (cancel_on_kill=False)", self.job_id)
            return
        self.log.info("Task killed; cancelling job %s", self.job_id)
        await asyncio.wait_for(self.hook().async_cancel_job(self.job_id), timeout=cancel_timeout())


class _Checkpoint:
    """Saves the cursor (triggers/log_resume.py) whenever it moved since the last save."""

    def __init__(self, path: Path | None, cursor: LogCursor) -> None:
        self.path, self.cursor, self.last = path, cursor, cursor.timestamp

    def __call__(self) -> None:
        if self.path is not None and self.cursor.timestamp != self.last:
            self.last = self.cursor.timestamp
            log_resume.save(self.path, self.cursor.to_dict())


def cancel_timeout() -> float:
    """Seconds on_kill waits for the cancel: CANCEL_TIMEOUT, kept under the triggerer's own on_kill_timeout."""
    from airflow.configuration import conf

    budget = conf.getfloat("triggerer", "on_kill_timeout", fallback=30.0)
    return max(1.0, min(CANCEL_TIMEOUT, budget - 2.0))
