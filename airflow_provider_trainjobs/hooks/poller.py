"""One poller per process (per event loop) for each (connection, project, region, backend): every waiting
``TrainingJobTrigger`` registers its job, and one refresh per interval answers them all.

A refresh lists the due jobs by id, ⌈N/100⌉ calls of ``jobId=a OR jobId=b ...`` (so jobs made outside this
provider are covered too; on Vertex the hook translates it to ``display_name``; googleapiclient sends a filter
whose URL passes 2 KB as a POST with ``X-HTTP-Method-Override: GET``, which Google and the local service read;
a service that refuses a long filter gets shorter ones from then on), GETs only the jobs the list could not
answer, and reads the logs of all of them with one paged ``entries:list`` (an OR filter over their
log ids, split only past ``MAX_FILTER`` characters), handing each entry to its job's cursor. Jobs still
catching up (a new trigger's cursor) get a term with their own floor. Past ``MAX_LOG_FILTERS`` filters a
refresh (about 2 x 360 ids) it reads the project's ``ml_job`` log from the earliest floor instead, in one
filter, and keeps its own jobs' entries: ``entries:list`` stays at most 12 a minute per project at the
default interval, whatever N is. A service that cannot read the OR
filter (HTTP 400) is read job by job from then on, said once. A job that leaves (done, trigger cancelled)
costs nothing afterwards; a poller with no jobs stops. Requests run on the small executor of
hooks/executor.py, never the loop's default pool. ``REQUESTS`` counts what every poller sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError
from airflow_provider_trainjobs.hooks.executor import in_executor
from airflow_provider_trainjobs.hooks.logs import (
    batch_log_filter,
    floor_before,
    list_entries,
    nanos,
    project_log_filter,
)
from airflow_provider_trainjobs.hooks.retry import is_transient
from airflow_provider_trainjobs.hooks.waiting import FetchLogs, Poll, Sleep, Step, WaitState, adrive
from airflow_provider_trainjobs.naming import JOB_ID_MAX_LENGTH

if TYPE_CHECKING:
    from airflow_provider_trainjobs.hooks.training import TrainingJobHook

LIST_PAGE = 100  # job ids per list call (the list's page size)
# Characters of one list filter: a full page of the longest job ids (100 x 140 = 14,000; on Vertex 14,700 once
# translated), so a refresh of 100 jobs is one list call. Neither API documents a filter limit; the local
# service's is 20,000, as Cloud Logging's, and a refusal falls back to SHORT_LIST_FILTER.
LIST_FILTER = LIST_PAGE * (len('jobId="" OR ') + JOB_ID_MAX_LENGTH)
SHORT_LIST_FILTER = 1200  # what fits a GET URL of under 2 KB, for a service that reads no other form
MAX_FILTER = 15000  # characters of one entries:list filter (Cloud Logging allows 20,000)
MAX_LOG_FILTERS = 2  # entries:list filters a refresh sends: 12 a minute at the default 10 s interval
REQUESTS: Counter[str] = Counter()  # "jobs.list", "jobs.get", "entries.list" sent by every poller of the process
log = logging.getLogger(__name__)

Key = tuple[int, str, str | None, str | None, str | None, tuple[str, ...]]


@dataclass(eq=False)
class Watch:
    """One trigger's registration: its job, its wait state (log cursor), when it next wants a poll."""

    job_id: str
    state: WaitState
    interval: float
    due: float = 0.0
    answered: float | None = None  # loop time of the tick whose refresh gave the last answer
    waiter: asyncio.Future[dict[str, Any]] | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    log_error: BaseException | None = None
    caught_up: bool = False  # its log cursor's floor is covered by the poller's shared floor

    def take_logs(self) -> list[dict[str, Any]]:
        """The entries the last refresh read for this job (or the error reading them)."""
        error, self.log_error = self.log_error, None
        entries, self.entries = self.entries, []
        if error is not None:
            raise error
        return entries


@dataclass
class _Answer:
    jobs: dict[str, dict[str, Any] | BaseException] = field(default_factory=dict)
    logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    log_error: BaseException | None = None


class JobPoller:
    """The batched refresh loop of one (connection, project, region, backend) in one event loop."""

    _pollers: dict[Key, JobPoller] = {}

    def __init__(self, key: Key, hook: TrainingJobHook) -> None:
        self.key = key
        self.hook = hook  # single attempts (max_retries=0): each trigger's wait loop owns its retries
        self.watches: list[Watch] = []
        self.requests: Counter[str] = Counter()
        self.refreshes = 0
        self.batch_logs = True
        self.list_filter = LIST_FILTER
        self.log_floor: str | None = None  # the shared floor: newest entry read, less the cursor window
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._count_calls()

    @classmethod
    async def for_job(cls, gcp_conn_id: str, project_id: str | None, region: str | None, backend: str | None,
                      impersonation_chain: str | Sequence[str] | None = None) -> JobPoller:
        """The poller of this event loop for the connection and overrides (made on first use)."""
        from airflow_provider_trainjobs.hooks.training import TrainingJobHook

        chain = (impersonation_chain,) if isinstance(impersonation_chain, str) else tuple(impersonation_chain or ())
        key: Key = (id(asyncio.get_running_loop()), gcp_conn_id, project_id, region, backend, chain)
        poller = cls._pollers.get(key)
        if poller is None:
            hook = TrainingJobHook(gcp_conn_id, project_id=project_id, backend=backend, region=region, max_retries=0,
                                   impersonation_chain=impersonation_chain)
            await hook.aget_settings()
            poller = cls._pollers.setdefault(key, cls(key, hook))
        return poller

    def watch(self, job_id: str, state: WaitState, interval: float) -> Watch:
        """Register ``job_id``; it is refreshed with the others from the next tick on."""
        watch = Watch(job_id, state, interval)
        self.watches.append(watch)
        self._pollers.setdefault(self.key, self)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"trainjobs-poller-{self.key[1]}")
        return watch

    def unwatch(self, watch: Watch) -> None:
        """The job left (done, or its trigger was cancelled): never refreshed again."""
        if watch in self.watches:
            self.watches.remove(watch)
        if watch.waiter is not None and not watch.waiter.done():
            watch.waiter.cancel()
        if not self.watches:
            self._pollers.pop(self.key, None)
            self._wake.set()

    async def poll(self, watch: Watch) -> dict[str, Any]:
        """The job as the next refresh that includes it sees it (its entries wait in ``watch.take_logs``)."""
        watch.waiter = asyncio.get_running_loop().create_future()
        return await watch.waiter

    async def wait(self, watch: Watch, steps: Generator[Step, Any, dict[str, Any]], cancel: Callable[[], Any],
                   checkpoint: Callable[[], None] | None = None) -> dict[str, Any]:
        """Drive a wait loop (hooks/waiting.wait_steps) on this poller: polls and logs come from the shared
        refresh, a Sleep only moves the watch's next due time, a Cancel runs ``cancel()`` on the executor;
        ``checkpoint()`` before each poll (after the last one's lines were printed)."""
        loop = asyncio.get_running_loop()

        async def perform(step: Step) -> Any:
            if isinstance(step, Poll):
                if checkpoint is not None:
                    checkpoint()
                return await self.poll(watch)
            if isinstance(step, FetchLogs):
                return watch.take_logs()
            if isinstance(step, Sleep):  # counted from the tick that answered, however long its refresh took
                watch.due = (watch.answered if watch.answered is not None else loop.time()) + step.seconds
                return None
            return await in_executor(cancel)

        return await adrive(steps, perform)

    async def _run(self) -> None:
        """Tick every (shortest registered) interval while jobs are registered; refresh the due ones.

        The first tick comes at once; a trigger that registers later joins the next tick, so triggers that
        start at different moments still share one refresh per interval."""
        loop = asyncio.get_running_loop()
        while self.watches:
            tick = loop.time()
            period = min(w.interval for w in self.watches)
            batch = [w for w in self.watches if w.waiter is not None and not w.waiter.done()
                     and w.due <= tick + period / 2]
            if batch:
                self.refreshes += 1
                try:
                    answer = await in_executor(self._refresh, batch)
                except Exception as err:  # noqa: BLE001 - a bug in a refresh must not strand the waiters
                    answer = _Answer(jobs={w.job_id: err for w in batch})
                self._deliver(batch, answer, tick)
            self._wake.clear()
            delay = tick + period - loop.time()
            if delay > 0 and self.watches:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                except TimeoutError:
                    pass

    def _deliver(self, batch: list[Watch], answer: _Answer, tick: float) -> None:
        for watch in batch:
            result = answer.jobs.get(watch.job_id)
            if watch.waiter is None or watch.waiter.done():
                continue
            watch.answered = tick
            if isinstance(result, BaseException) or result is None:
                watch.waiter.set_exception(result or TrainingJobApiError(f"getting job {watch.job_id} failed"))
                continue
            if watch.state.stream_logs:
                log_id = self._log_id(watch.job_id, result)
                watch.entries = answer.logs.get(log_id, [])
                watch.log_error = answer.log_error
                if answer.log_error is None:
                    watch.caught_up = True
            watch.waiter.set_result(result)

    # -- the refresh (runs on the executor) ----------------------------------------------------------

    def _refresh(self, batch: list[Watch]) -> _Answer:
        answer = _Answer()
        ids = list(dict.fromkeys(w.job_id for w in batch))
        for chunk in self._chunks([i for i in ids if "/" not in i]):
            self._list_chunk(chunk, answer)
        for job_id in ids:
            if job_id not in answer.jobs:
                try:
                    answer.jobs[job_id] = self.hook.get_job(job_id)  # one attempt: the hook has max_retries=0
                except Exception as err:  # noqa: BLE001 - handed to that job's wait loop
                    answer.jobs[job_id] = err
        tailed = [w for w in batch if w.state.stream_logs and isinstance(answer.jobs.get(w.job_id), dict)]
        if tailed:
            self._read_logs(tailed, answer)
        return answer

    def _chunks(self, ids: list[str]) -> list[list[str]]:
        """The ids cut into list calls of at most LIST_PAGE ids and ``self.list_filter`` characters."""
        chunks: list[list[str]] = [[]]
        for job_id in ids:
            chunk = chunks[-1]
            if chunk and (len(chunk) >= LIST_PAGE or len(_id_filter([*chunk, job_id])) > self.list_filter):
                chunks.append(chunk := [])
            chunk.append(job_id)
        return [c for c in chunks if c]

    def _list_chunk(self, chunk: list[str], answer: _Answer) -> None:
        """List ``chunk`` by id; a transient failure is every job's failed poll, any other leaves them to GETs
        (after one retry in short filters, for a service that cannot read a long one)."""
        filter_ = _id_filter(chunk)
        try:
            found = self.hook.list_jobs(filter_, page_size=LIST_PAGE)
        except Exception as err:  # noqa: BLE001 - sorted below
            if is_transient(err):
                answer.jobs.update(dict.fromkeys(chunk, err))
            elif len(filter_) > SHORT_LIST_FILTER >= len(_id_filter(chunk[:1])) and \
                    self.list_filter > SHORT_LIST_FILTER:
                log.info("The jobs endpoint cannot read a %d-character list filter (%s): listing in filters of at "
                         "most %d characters from now on", len(filter_), err, SHORT_LIST_FILTER)
                self.list_filter = SHORT_LIST_FILTER
                for part in self._chunks(chunk):
                    self._list_chunk(part, answer)
            return
        wanted = set(chunk)
        by_id: dict[str, list[dict[str, Any]]] = {}
        for job in found:
            if job.get("jobId") in wanted:
                by_id.setdefault(job["jobId"], []).append(job)
        names = self.hook.jobs.names
        for job_id, views in by_id.items():
            known = names.get(job_id)
            mine = [v for v in views if known and v.get("vertexName") == known] or (views if len(views) == 1 else [])
            if mine:  # several Vertex jobs share a displayName and none is known: the GET's label look-up decides
                answer.jobs[job_id] = mine[0]

    def _log_id(self, job_id: str, job: dict[str, Any]) -> str:
        if job.get("vertexName"):
            self.hook.jobs.names.setdefault(job_id, job["vertexName"])
        return self.hook.jobs.log_id(job_id)

    def _read_logs(self, tailed: list[Watch], answer: _Answer) -> None:
        """One paged entries:list for every tailed job (split under MAX_FILTER), or one per job after a 400."""
        jobs = answer.jobs
        shared = sorted({self._log_id(w.job_id, jobs[w.job_id]) for w in tailed if w.caught_up})  # type: ignore[arg-type]
        own = {self._log_id(w.job_id, jobs[w.job_id]): w.state.cursor.floor  # type: ignore[arg-type]
               for w in tailed if not w.caught_up}
        shared = [i for i in shared if i not in own]
        floor = self.log_floor or min((w.state.cursor.floor or "" for w in tailed if w.caught_up), default="") or None
        groups: list[tuple[list[str], dict[str, str | None]]] = []
        if self.batch_logs:
            groups = _split(shared, floor, own)
        else:
            groups = [([i], {}) for i in shared] + [([], {i: f}) for i, f in own.items()]
        filters = [batch_log_filter(ids, floor, alone) for ids, alone in groups]
        wanted: set[str] | None = None  # the log ids to keep, when the read covers the whole project
        if self.batch_logs and len(filters) > MAX_LOG_FILTERS:
            # A job with no floor yet is read from its creation (less the cursor window, for clock skew).
            window = tailed[0].state.cursor.window
            created = {self._log_id(w.job_id, job): start for w in tailed
                       if isinstance(job := jobs[w.job_id], dict) and (start := _log_start(job, window))}
            starts = [floor or _earliest([created.get(i) for i in shared])] if shared else []
            since = _earliest(starts + [own[i] or created.get(i) for i in own])
            if since:
                filters, wanted = [project_log_filter(since)], {*shared, *own}
        try:
            for filter_ in filters:
                for entry in self._entries(filter_):
                    log_id = str(((entry.get("resource") or {}).get("labels") or {}).get("job_id", ""))
                    if wanted is None or log_id in wanted:
                        answer.logs.setdefault(log_id, []).append(entry)
        except TrainingJobApiError as err:
            if err.status == 400 and self.batch_logs and len(shared) + len(own) > 1:
                log.info("The logging endpoint cannot read one filter for many jobs (%s): reading each job's "
                         "logs on its own from now on", err)
                self.batch_logs = False
                answer.logs.clear()
                self._read_logs(tailed, answer)
                return
            answer.log_error = err
            return
        except Exception as err:  # noqa: BLE001 - each wait loop decides what a failed read means
            answer.log_error = err
            return
        stamps = [_order(e["timestamp"]) for entries in answer.logs.values() for e in entries if e.get("timestamp")]
        if stamps:
            mark = floor_before(max(stamps), tailed[0].state.cursor.window)
            if self.log_floor is None or _order(mark) > _order(self.log_floor):
                self.log_floor = mark

    def _entries(self, filter_: str) -> list[dict[str, Any]]:
        def page() -> None:
            self.requests["entries.list"] += 1
            REQUESTS["entries.list"] += 1

        project = self.hook.project_id
        entries: list[dict[str, Any]] = self.hook._call(
            lambda client: _Entries(lambda: list_entries(client, project, filter_, on_page=page)),
            what="reading the logs of the waiting jobs", api="logging", retries=False)
        return entries

    def _count_calls(self) -> None:
        """Count every jobs request the hook's backend sends for this poller (for benchmarks and tests)."""
        jobs = self.hook.jobs
        call = jobs.call

        def counted(request: Callable[[Any], Any], *, what: str, **kwargs: Any) -> Any:
            kind = "jobs.list" if what.startswith("listing") else "jobs.get" if what.startswith("getting") else "other"
            self.requests[kind] += 1
            REQUESTS[kind] += 1
            return call(request, what=what, **kwargs)

        jobs.call = counted


def _id_filter(ids: list[str]) -> str:
    return " OR ".join(f'jobId="{job_id}"' for job_id in ids)


def _order(stamp: str) -> int:
    return nanos(stamp) if stamp else 0


def _log_start(job: dict[str, Any], window: float) -> str | None:
    """Where a job's log can start: its createTime less the cursor window (for clock skew); None if unknown."""
    try:
        return floor_before(nanos(str(job["createTime"])), window) if job.get("createTime") else None
    except (TypeError, ValueError):
        return None


def _earliest(stamps: list[str | None]) -> str | None:
    """The earliest of RFC 3339 times, or None when one of them is unknown (then no shared floor exists)."""
    if not stamps or any(not s for s in stamps):
        return None
    return min(stamps, key=lambda s: _order(s or ""))


class _Entries:
    """A paged entries:list read in the ``.execute(num_retries=)`` shape the hook's ``_call`` runs."""

    def __init__(self, read: Callable[[], list[dict[str, Any]]]) -> None:
        self._read = read

    def execute(self, num_retries: int = 0) -> list[dict[str, Any]]:
        return self._read()


def _split(shared: list[str], floor: str | None, own: dict[str, str | None]
           ) -> list[tuple[list[str], dict[str, str | None]]]:
    """Cut the ids into as few filters as fit in MAX_FILTER characters (one, below a few hundred jobs)."""
    groups: list[tuple[list[str], dict[str, str | None]]] = [([], {})]
    for log_id in shared:
        if groups[-1][0] and len(batch_log_filter([*groups[-1][0], log_id], floor, groups[-1][1])) > MAX_FILTER:
            groups.append(([], {}))
        groups[-1][0].append(log_id)
    for log_id, since in own.items():
        if (groups[-1][0] or groups[-1][1]) and \
                len(batch_log_filter(groups[-1][0], floor, {**groups[-1][1], log_id: since})) > MAX_FILTER:
            groups.append(([], {}))
        groups[-1][1][log_id] = since
    return [g for g in groups if g[0] or g[1]]
