"""The waiting loop written once, without I/O, so the sync hook and the async trigger run the same code.

:func:`wait_steps` is a generator that yields what it needs done (poll the job, fetch new log
entries, cancel the job, sleep) and receives the results; a driver performs each step, with
blocking calls (``TrainingJobHook.wait_for_job``) or awaited ones (``async_wait_for_job``, which
the trigger uses). A failed step is thrown back into the generator, which decides: a transient
poll failure does not count as a state check and is retried with backoff until ``retry.max_retries``
consecutive failures; a log failure never fails the wait, and after ``retry.max_retries`` consecutive
transient ones (or one permanent one) the loop stops reading logs for the rest of the wait.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_provider_trainjobs.hooks.errors import TrainingJobDeadlineExceeded, TrainingJobFailed
from airflow_provider_trainjobs.hooks.logs import LogCursor, entry_level, format_entry
from airflow_provider_trainjobs.hooks.retry import RetryPolicy, is_transient
from airflow_provider_trainjobs.spec.results import tuning_progress
from airflow_provider_trainjobs.spec.waiting import evaluate


@dataclass(frozen=True)
class Poll:
    """Get the job (one attempt, no retries: the loop owns them)."""


@dataclass(frozen=True)
class FetchLogs:
    """List the log entries at or after ``cursor``; the result is the list of entries."""

    cursor: LogCursor


@dataclass(frozen=True)
class Cancel:
    """Cancel the job (it passed a deadline); failures are logged, the deadline error still raised."""


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` before the next step."""

    seconds: float


Step = Poll | FetchLogs | Cancel | Sleep


@dataclass
class WaitState:
    """What a wait has learnt so far; kept by the driver so it survives an exception (e.g. the cursor)."""

    cursor: LogCursor = field(default_factory=LogCursor)
    last_state: str | None = None
    last_progress: str | None = None
    job: dict[str, Any] | None = None
    stream_logs: bool = True
    log_failures: int = 0  # consecutive transient failures to read the logs


def wait_steps(
    job_id: str,
    state: WaitState,
    *,
    poll_interval: float,
    grace: float,
    cancel_on_deadline: bool,
    retry: RetryPolicy,
    log: Any,  # a logging.Logger or Airflow's structlog logger
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Generator[Step, Any, dict[str, Any]]:
    """Poll ``job_id`` until it is terminal; return the SUCCEEDED job or raise ``TrainingJobFailed``.

    Each state transition is logged once, and so is each new tuning progress line ("3/20 trials
    done, best accuracy=0.91 (trial 2)"); new trainer log lines are logged after every poll;
    ``on_progress(job)`` is called after every successful poll.
    """
    failures = 0
    while True:
        try:
            job = yield Poll()
        except Exception as err:
            if not is_transient(err):
                raise
            failures += 1
            if failures > retry.max_retries:
                log.error("Giving up on job %s after %d consecutive failed polls", job_id, failures)
                raise
            delay = max(retry.delay(failures), min(poll_interval, retry.maximum))
            log.warning("Polling job %s failed (%d in a row, not counted as a check), retrying in %.1fs: %s",
                        job_id, failures, delay, err)
            yield Sleep(delay)
            continue
        failures = 0
        state.job = job
        current = job.get("state") or "STATE_UNSPECIFIED"
        if state.stream_logs:
            yield from _tail(job_id, state, log, retry)
        if current != state.last_state:  # after the lines that led to it, so the log reads in order
            log.info("Job %s is %s", job_id, current)
        state.last_state = current
        progress = tuning_progress(job)
        if progress and progress != state.last_progress:
            log.info("Job %s: %s", job_id, progress)
            state.last_progress = progress
        if on_progress is not None:
            on_progress(job)
        status = evaluate(job, now(), grace=grace)
        if status.done:
            if status.success:  # the transition line above already said SUCCEEDED
                return job
            if status.deadline is None:
                raise TrainingJobFailed(status.message, job=job)
            if status.by_service:
                status_message = status.message
            elif cancel_on_deadline:
                try:
                    yield Cancel()
                    log.warning("Cancelled job %s: it passed %s", job_id, status.deadline)
                    status_message = f"{status.message}; the job was cancelled"
                except Exception as err:
                    status_message = f"{status.message}; cancelling it failed: {err}"
            else:
                status_message = f"{status.message}; the job was left running (cancel_on_deadline=False)"
            raise TrainingJobDeadlineExceeded(status_message, job=job, limit=status.deadline)
        yield Sleep(poll_interval)


def _tail(job_id: str, state: WaitState, log: Any, retry: RetryPolicy) -> Generator[Step, Any, None]:
    """Fetch and print the new log entries.

    A transient failure waits for the next poll, up to ``retry.max_retries`` in a row (at least one);
    past that, or on any other failure, tailing stops for the rest of the wait (the job is still polled).
    """
    try:
        entries = yield FetchLogs(state.cursor)
    except Exception as err:
        if not is_transient(err):
            log.warning("Not streaming the logs of job %s any more: %s", job_id, err)
            state.stream_logs = False
            return
        state.log_failures += 1
        if state.log_failures >= max(1, retry.max_retries):
            log.warning("Not streaming the logs of job %s any more: %d reads failed in a row, the last with: %s",
                        job_id, state.log_failures, err)
            state.stream_logs = False
        else:
            log.info("Could not fetch the logs of job %s this time (%d in a row): %s", job_id, state.log_failures,
                     err)
        return
    state.log_failures = 0
    for entry in state.cursor.advance(entries):
        log.log(entry_level(entry), "%s", format_entry(entry))
