"""All of waiting in one place: the state machine and deadlines, the per-poll ``observe`` step, the wait loop,
and the trigger's event with its reverse.

No I/O (h11-style): :func:`wait_steps` yields what it needs done (poll, read logs, cancel, sleep) and a driver
performs it: :func:`drive` with blocking calls (``TrainingJobHook.wait_for_job``), the hook's async driver or
the process-wide poller (hooks/poller.py) in the triggerer. The sensor's poke calls :func:`observe` and
:func:`conclude` itself, so all three paths log the same lines in the same order. A transient poll failure
does not count as a check and is retried with backoff until ``retry.max_retries`` failures in a row; a log
failure never fails the wait, and after ``retry.max_retries`` transient ones in a row (or one permanent one)
the loop stops reading logs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_trainjobs.hooks.errors import TrainingJobDeadlineExceeded, TrainingJobFailed
from airflow_provider_trainjobs.hooks.logs import LogCursor, log_entry
from airflow_provider_trainjobs.hooks.retry import RetryPolicy, is_transient
from airflow_provider_trainjobs.spec.results import tuning_progress
from airflow_provider_trainjobs.spec.waiting import (
    DEFAULT_MAX_RUNNING_TIME,
    FAILED_STATES,
    SUCCEEDED,
    TERMINAL_STATES,
    WAITING_STATES,
    parse_time,
    service_deadline,
    span,
)

DEFAULT_HEARTBEAT = 300.0  # seconds of silence before a "still RUNNING" line


@dataclass(frozen=True)
class WaitStatus:
    """Verdict on one observation of a job; ``deadline`` names the limit passed (else None).

    ``by_service`` is True when the service itself already cancelled the job for that limit (nothing
    left to cancel); False when the waiter saw the limit pass and must cancel the job itself.
    """

    done: bool
    success: bool
    message: str
    deadline: str | None = None
    by_service: bool = False


@dataclass(frozen=True)
class Deadline:
    """The limit that bounds the job in its current state and when it passes (grace not included)."""

    limit: str  # "maxWaitTime" | "maxRunningTime"
    seconds: float
    since: datetime
    at: datetime


def _seconds(value: Any, field: str) -> float:
    from airflow_provider_trainjobs.spec import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as err:
        raise ValueError(f"trainingInput.scheduling.{field}: {err}") from None
    return float(seconds.total_seconds() if isinstance(seconds, timedelta) else seconds)


def deadline_for(job: dict[str, Any]) -> Deadline | None:
    """The deadline in force for the job's current state, from ``trainingInput.scheduling``.

    ``maxWaitTime`` counts from createTime while QUEUED/PREPARING (no default); ``maxRunningTime``
    (default 7 days) counts from startTime once it has started. Terminal jobs have none.
    """
    state = job.get("state") or "STATE_UNSPECIFIED"
    if state in TERMINAL_STATES:
        return None
    scheduling = (job.get("trainingInput") or {}).get("scheduling") or {}
    if state in WAITING_STATES:
        if not (scheduling.get("maxWaitTime") and job.get("createTime")):
            return None
        seconds = _seconds(scheduling["maxWaitTime"], "maxWaitTime")
        since = parse_time(job["createTime"])
        return Deadline("maxWaitTime", seconds, since, since + timedelta(seconds=seconds))
    if job.get("startTime"):
        seconds = _seconds(scheduling.get("maxRunningTime") or f"{DEFAULT_MAX_RUNNING_TIME:.0f}s", "maxRunningTime")
        since = parse_time(job["startTime"])
        return Deadline("maxRunningTime", seconds, since, since + timedelta(seconds=seconds))
    return None


def evaluate(job: dict[str, Any], now: datetime, *, grace: float) -> WaitStatus:
    """Decide what a waiter does with this observation of ``job`` at ``now``.

    Only SUCCEEDED succeeds; FAILED and CANCELLED fail with the job's errorMessage (a CANCELLED job
    the service stopped for maxWaitTime/maxRunningTime is a deadline, ``by_service``); any other
    state (known or not) keeps waiting unless the state's deadline plus ``grace`` seconds has passed.
    """
    job_id = job.get("jobId", "?")
    state = job.get("state") or "STATE_UNSPECIFIED"
    if state == SUCCEEDED:
        return WaitStatus(True, True, f"job {job_id} SUCCEEDED")
    if state in FAILED_STATES:
        error = job.get("errorMessage") or "no error message"
        enforced = service_deadline(job)
        if enforced is not None:
            return WaitStatus(True, False, f"job {job_id} passed trainingInput.scheduling.{enforced} and the "
                              f"service cancelled it: {error}", enforced, by_service=True)
        return WaitStatus(True, False, f"job {job_id} {state}: {error}")
    deadline = deadline_for(job)
    if deadline is not None and now > deadline.at + timedelta(seconds=grace):
        what = "since it was created" if deadline.limit == "maxWaitTime" else "since it started running"
        return WaitStatus(
            True,
            False,
            f"job {job_id} passed trainingInput.scheduling.{deadline.limit} ({deadline.seconds:g}s "
            f"{what} at {deadline.since.isoformat()}, plus {grace:g}s grace) while {state}",
            deadline.limit,
        )
    return WaitStatus(False, False, f"job {job_id} is {state}")



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
    last_output: datetime | None = None  # when the wait last wrote a line (for the heartbeat)



def observe(job_id: str, state: WaitState, job: dict[str, Any], *, now: datetime, grace: float, log: Any,
            heartbeat: float = DEFAULT_HEARTBEAT,
            on_progress: Callable[[dict[str, Any]], None] | None = None) -> WaitStatus:
    """Record one observation of ``job`` and log what changed; return the verdict (:func:`evaluate`).

    Logs each state transition once (``Job J is RUNNING``), each new tuning progress line, and, when
    nothing was written for ``heartbeat`` seconds (0: never), one heartbeat (``Job J: RUNNING for 35m of
    maxRunningTime 2h``). The loop, the trigger and the sensor's poke all call it.
    """
    state.job = job
    current = job.get("state") or "STATE_UNSPECIFIED"
    if current != state.last_state:  # after the lines that led to it, so the log reads in order
        log.info("Job %s is %s", job_id, current)
        state.last_output = now
    elif heartbeat > 0 and state.last_output is not None and (now - state.last_output).total_seconds() >= heartbeat:
        log.info("Job %s: %s", job_id, heartbeat_line(job, now))
        state.last_output = now
    state.last_state = current
    if state.last_output is None:
        state.last_output = now
    progress = tuning_progress(job)
    if progress and progress != state.last_progress:
        log.info("Job %s: %s", job_id, progress)
        state.last_progress = progress
        state.last_output = now
    if on_progress is not None:
        on_progress(job)
    return evaluate(job, now, grace=grace)


def heartbeat_line(job: dict[str, Any], now: datetime) -> str:
    """``RUNNING for 35m of maxRunningTime 2h`` (``QUEUED for 3m, no maxWaitTime`` when no limit applies)."""
    state = job.get("state") or "STATE_UNSPECIFIED"
    try:
        deadline = deadline_for(job)
    except ValueError:
        deadline = None
    if deadline is not None:
        return f"{state} for {span((now - deadline.since).total_seconds())} of {deadline.limit} " \
               f"{span(deadline.seconds)}"
    since = job.get("startTime") if state not in WAITING_STATES else job.get("createTime")
    limit = "maxWaitTime" if state in WAITING_STATES else "maxRunningTime"
    if not since:
        return f"{state}, no {limit} in force"
    return f"{state} for {span((now - parse_time(since)).total_seconds())}, no {limit}"


def conclude(job_id: str, status: WaitStatus, job: dict[str, Any], *, cancel_on_deadline: bool,
             log: Any) -> Generator[Cancel, Any, dict[str, Any]]:
    """What a terminal verdict does: return the SUCCEEDED job, or (after a Cancel step for a deadline the
    waiter saw pass) raise ``TrainingJobFailed`` / ``TrainingJobDeadlineExceeded``."""
    if status.success:  # the transition line already said SUCCEEDED
        return job
    if status.deadline is None:
        raise TrainingJobFailed(status.message, job=job)
    if status.by_service:
        message = status.message
    elif cancel_on_deadline:
        try:
            yield Cancel()
            log.warning("Cancelled job %s: it passed %s", job_id, status.deadline)
            message = f"{status.message}; the job was cancelled"
        except Exception as err:
            message = f"{status.message}; cancelling it failed: {err}"
    else:
        message = f"{status.message}; the job was left running (cancel_on_deadline=False)"
    raise TrainingJobDeadlineExceeded(message, job=job, limit=status.deadline)


def check_wait_args(poll_interval: float, grace: float, heartbeat: float) -> None:
    """Refuse wait arguments no loop can run with, naming the argument and the rule."""
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be > 0 seconds; got {poll_interval}")
    if grace < 0:
        raise ValueError(f"grace must be >= 0 seconds; got {grace}")
    if heartbeat < 0:
        raise ValueError(f"heartbeat_interval must be >= 0 seconds (0 turns it off); got {heartbeat}")



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
    heartbeat: float = DEFAULT_HEARTBEAT,
) -> Generator[Step, Any, dict[str, Any]]:
    """Poll ``job_id`` until it is terminal; return the SUCCEEDED job or raise ``TrainingJobFailed``.

    After every successful poll the new trainer lines are logged, then :func:`observe` logs what changed.
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
        if state.stream_logs:
            yield from _tail(job_id, state, log, retry, now)
        status = observe(job_id, state, job, now=now(), grace=grace, log=log, heartbeat=heartbeat,
                         on_progress=on_progress)
        if status.done:
            return (yield from conclude(job_id, status, job, cancel_on_deadline=cancel_on_deadline, log=log))
        yield Sleep(poll_interval)


def _tail(job_id: str, state: WaitState, log: Any, retry: RetryPolicy,
          now: Callable[[], datetime]) -> Generator[Step, Any, None]:
    """Fetch and print the new log entries, each with the trainer's own timestamp.

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
    fresh = state.cursor.advance(entries)
    for entry in fresh:
        log_entry(log, entry)
    if fresh:
        state.last_output = now()


def drive(steps: Generator[Step, Any, dict[str, Any]], perform: Callable[[Step], Any]) -> dict[str, Any]:
    """Run ``steps`` to the end with blocking ``perform(step)`` calls; a failed step is thrown back in."""
    send: Any = None
    error: BaseException | None = None
    while True:
        done, step = advance(steps, send, error)
        if done:
            return dict(step)
        send, error = None, None
        try:
            send = perform(step)
        except Exception as err:
            error = err


async def adrive(steps: Generator[Step, Any, dict[str, Any]], perform: Callable[[Step], Awaitable[Any]]
                 ) -> dict[str, Any]:
    """:func:`drive` for an event loop: each step is ``await perform(step)``."""
    send: Any = None
    error: BaseException | None = None
    while True:
        done, step = advance(steps, send, error)
        if done:
            return dict(step)
        send, error = None, None
        try:
            send = await perform(step)
        except Exception as err:
            error = err


def advance(steps: Generator[Step, Any, dict[str, Any]], send: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Resume the wait loop with the last step's answer (or its error): (True, final job) or (False, next step)."""
    try:
        return False, (steps.throw(error) if error is not None else steps.send(send))
    except StopIteration as stop:
        return True, stop.value



def event_for(job_id: str, state: WaitState, job: dict[str, Any] | None = None,
              error: BaseException | None = None) -> dict[str, Any]:
    """The one event a trigger fires: ``{"status": "success"|"error"|"deadline", "limit", "job_id", "job",
    "message", "log_cursor"}`` for the SUCCEEDED ``job`` or the ``error`` that ended the wait."""
    event: dict[str, Any] = {"job_id": job_id, "limit": None}
    if error is None:
        event.update(status="success", job=job or state.job or {}, message=f"job {job_id} SUCCEEDED")
    elif isinstance(error, TrainingJobDeadlineExceeded):
        event.update(status="deadline", job=error.job, message=error.message, limit=error.limit)
    elif isinstance(error, TrainingJobFailed):
        event.update(status="error", job=error.job, message=error.message)
    else:
        event.update(status="error", job=state.job or {}, message=f"waiting for job {job_id} failed: {error}")
    event["log_cursor"] = state.cursor.to_dict()
    return event


def raise_for_event(event: dict[str, Any] | None) -> dict[str, Any]:
    """The final Job of a successful trigger event; otherwise raise the failure the event describes.

    A deadline event (``status == "deadline"``, naming the passed ``limit``) raises
    :class:`TrainingJobDeadlineExceeded`, any other non-success event :class:`TrainingJobFailed`, both
    carrying the event's message (the job's errorMessage). Only the event's fields decide, never its text.
    """
    if not event:
        raise TrainingJobFailed("the trigger ended without an event; the job's final state is unknown")
    status = str(event.get("status", ""))
    job = event.get("job") or {}
    if status == "success" and job:
        return dict(job)
    message = str(event.get("message") or job.get("errorMessage") or f"training job ended: {event!r}")
    if status == "deadline":
        raise TrainingJobDeadlineExceeded(message, job=job or None, limit=str(event.get("limit") or "deadline"))
    raise TrainingJobFailed(message, job=job or None)
