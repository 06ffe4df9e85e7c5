"""One page of a jobs list, served by SQL on the store's indexed columns instead of decoding every job.

The parts of a list ``filter`` that SQL can check (``jobId``, ``state``, ``labels.<key>``
terms of a filter that is a plain AND of terms) narrow the rows SQL returns; the whole filter is still
applied to the decoded rows of the page, so what SQL checks only has to be implied by the filter.
The page token is the creation sequence number of the last job a page covered (keyset paging), so a
page costs what its rows cost, whatever the number of jobs before it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_trainjobs.local.store import Store

# Rows decoded at most per request beyond the page: a filter SQL cannot narrow ends a request early
# with a nextPageToken (a page may then hold fewer jobs than asked, as Google's list APIs may do).
SCAN_BUDGET = 2000

_TERM = re.compile(
    r"""\s*(?P<field>[A-Za-z_][\w.]*)\s*(?P<op>!=|<=|>=|=|:|<|>)\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s()"']+))"""
)
_AND = re.compile(r"\s+AND\s+|\s+")


@dataclass(frozen=True)
class JobPage:
    """The jobs of one page (decoded, in creation order) and the token of the next page ('' when last)."""

    jobs: list[dict[str, Any]]
    next_token: str


def conjunction_terms(text: str | None) -> list[tuple[str, str, str]] | None:
    """(field, op, value) of a filter made only of terms joined by AND or spaces; None for anything else
    (OR, NOT, parentheses, or text this reading does not recognise): then SQL narrows nothing."""
    if not text or not text.strip():
        return []
    terms: list[tuple[str, str, str]] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        match = _TERM.match(text, pos)
        if not match:
            return None
        value = next(v for v in (match["dq"], match["sq"], match["bare"]) if v is not None)
        if match["field"] in ("AND", "OR", "NOT"):
            return None
        terms.append((match["field"], match["op"], value))
        pos = match.end()
        if pos < end:
            sep = _AND.match(text, pos)
            if not sep:
                return None
            pos = sep.end()
    return terms


def _label_sql(key: str, op: str, value: str) -> tuple[str, list[Any]] | None:
    exists = "EXISTS (SELECT 1 FROM job_labels l WHERE l.project = jobs.project AND l.job_id = jobs.job_id AND l.key = ?"
    if op == "=":
        return exists + " AND l.value = ?)", [key, value]
    if op == ":":
        if value == "*":
            return exists + ")", [key]
        return exists + " AND instr(l.value, ?) > 0)", [key, value.rstrip("*")]  # a superset of ':' matches
    return None


def _term_sql(field: str, op: str, value: str) -> tuple[str, list[Any]] | None:
    """SQL implied by one ml v1 term, or None when SQL cannot say it (the decoded-row filter still does)."""
    if field == "jobId":
        if op == ":" and value.endswith("*"):
            prefix = value[:-1]
            return "job_id >= ? AND job_id < ?", [prefix, prefix + "\U0010ffff"]
        if op in ("=", ":"):
            return "job_id = ?", [value]
        return None
    if field == "state" and op in ("=", ":") and not value.endswith("*"):
        return "state = ?", [value]
    if field.startswith("labels.") and len(field) > len("labels."):
        return _label_sql(field[len("labels."):], op, value)
    return None


def list_where(project: str, filter_text: str | None, *, kind: str = "", location: str = "") -> tuple[str, list[Any]]:
    """The SQL condition of a list of ``kind`` jobs ('' = ml v1) in ``project`` (and Vertex ``location``).

    A Vertex list (``kind`` given) reads its filter in the Vertex resource's view, where only the
    ``labels.<key>`` terms mean the same as on the stored job: only those are pushed.
    """
    where, args = ["project = ?", "kind = ?", "location = ?"], [project, kind, location]
    for field, op, value in conjunction_terms(filter_text) or []:
        if kind and not field.startswith("labels."):
            continue
        sql = _term_sql(field, op, value)
        if sql is not None:
            where.append(sql[0])
            args += sql[1]
    return " AND ".join(f"({w})" for w in where), args


def read_page(store: Store, where: str, args: list[Any], predicate: Callable[[dict[str, Any]], bool], *,
              after_seq: int, page_size: int) -> JobPage:
    """Up to ``page_size`` jobs after ``after_seq`` that match ``where`` and ``predicate``."""
    found: list[dict[str, Any]] = []
    cursor, scanned = after_seq, 0
    batch = page_size + 1
    while True:
        rows = store.page(where, args, after_seq=cursor, limit=batch)
        for seq, _, job in rows:
            if predicate(job):
                if len(found) == page_size:  # one more match exists: this page is not the last
                    return JobPage(found, str(cursor))
                found.append(job)
            cursor = seq
            scanned += 1
        if len(rows) < batch:
            return JobPage(found, "")
        if scanned >= page_size + SCAN_BUDGET:
            return JobPage(found, str(cursor))
        batch = min(batch * 2, 1000)



def after_seq(token: str | None) -> int:
    """The sequence number a page token carries; ValueError naming pageToken when it is not one."""
    text = (token or "").strip()
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ValueError(f"pageToken: {token!r} is not a token this service issued")
    return int(text)
