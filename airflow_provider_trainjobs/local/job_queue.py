"""The QUEUED jobs of the engine, in creation order, with their ``maxWaitTime`` deadlines.

A job's ``jobPosition`` is derived from its creation sequence number (how many queued jobs were
created before it), so creating, starting or cancelling a job touches that job alone; the earliest
deadline tells the scheduler how long it may sleep.
"""

from __future__ import annotations

import bisect
import heapq

Key = tuple[str, str]  # (project, job_id)


class JobQueue:
    """Not thread-safe: the engine holds its lock around every call."""

    def __init__(self) -> None:
        self._seqs: list[int] = []  # sorted creation sequence numbers of the queued jobs
        self._keys: dict[int, Key] = {}
        self._seq_of: dict[Key, int] = {}
        self._deadlines: list[tuple[float, int]] = []  # heap of (UNIX-time deadline, seq)

    def __len__(self) -> int:
        return len(self._seqs)

    def __contains__(self, key: object) -> bool:
        return key in self._seq_of

    def add(self, key: Key, seq: int, deadline: float | None = None) -> None:
        """Queue ``key`` (created as number ``seq``); ``deadline`` is when its maxWaitTime passes."""
        bisect.insort(self._seqs, seq)
        self._keys[seq] = key
        self._seq_of[key] = seq
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, seq))

    def add_deadline(self, key: Key, deadline: float) -> None:
        """Check ``key`` again at ``deadline`` (a deadline that was reached a hair early)."""
        seq = self._seq_of.get(key)
        if seq is not None:
            heapq.heappush(self._deadlines, (deadline, seq))

    def remove(self, key: Key) -> bool:
        """Take ``key`` off the queue; False when it was not queued."""
        seq = self._seq_of.pop(key, None)
        if seq is None:
            return False
        del self._keys[seq]
        index = bisect.bisect_left(self._seqs, seq)
        del self._seqs[index]
        return True

    def pop_first(self) -> Key | None:
        """The job created first, taken off the queue (None when empty)."""
        if not self._seqs:
            return None
        key = self._keys[self._seqs[0]]
        self.remove(key)
        return key

    def position(self, key: Key) -> int | None:
        """How many queued jobs were created before ``key`` (None when it is not queued)."""
        seq = self._seq_of.get(key)
        return None if seq is None else bisect.bisect_left(self._seqs, seq)

    def expired(self, now: float) -> list[Key]:
        """The queued jobs whose deadline is ``now`` or earlier (their deadlines are forgotten)."""
        due = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, seq = heapq.heappop(self._deadlines)
            if seq in self._keys:
                due.append(self._keys[seq])
        return due

    def next_deadline(self) -> float | None:
        """The earliest deadline of a job still queued (None when none has one)."""
        while self._deadlines and self._deadlines[0][1] not in self._keys:
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else None
