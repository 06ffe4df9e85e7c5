"""Translating an ``ml`` v1 ``jobs.list`` filter (``jobId:census* AND state:FAILED``) to Vertex AI's list filter.

``TrainingJobHook.list_jobs`` takes the ``ml`` v1 syntax on both backends. On Vertex the terms become:

- ``jobId:prefix*`` → ``display_name:"prefix*"``; ``jobId=x`` / ``jobId:x`` → ``display_name="x"``
- ``state:X`` / ``state=X`` / ``state!=X`` → ``state=JOB_STATE_X`` (PREPARING → PENDING; FAILED also
  matches EXPIRED and PARTIALLY_SUCCEEDED, the Vertex states the neutral view calls FAILED)
- ``labels.k=v`` / ``labels.k:v`` → ``labels.k="v"``; ``labels.k:*`` (the key exists) stays ``labels.k:*``
  (Vertex matches labels by exact value or key existence only, so ``labels.k:prefix*`` is refused)
- ``createTime>"…"`` (and ``<``, ``>=``, ``<=``) → ``create_time>"…"``; likewise startTime/endTime

joined with AND / OR / NOT and parentheses as written. Terms already in Vertex's own syntax
(``display_name``, ``state=JOB_STATE_…``, ``create_time``, ``update_time``, ``labels.…``) pass
unchanged. Anything else raises ``ValueError`` naming the filter and the term.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<paren>[()]) |
        (?P<word>AND|OR|NOT)(?=[\s()]|$) |
        (?P<term>(?P<field>[A-Za-z_][\w.]*)\s*(?P<op>!=|<=|>=|=|:|<|>)\s*(?P<value>"[^"]*"|'[^']*'|[^\s()]+))
    )""",
    re.VERBOSE,
)
_STATES = {
    "QUEUED": ["JOB_STATE_QUEUED"],
    "PREPARING": ["JOB_STATE_PENDING"],
    "RUNNING": ["JOB_STATE_RUNNING"],
    "SUCCEEDED": ["JOB_STATE_SUCCEEDED"],
    "FAILED": ["JOB_STATE_FAILED", "JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED"],
    "CANCELLING": ["JOB_STATE_CANCELLING"],
    "CANCELLED": ["JOB_STATE_CANCELLED"],
}
_TIMES = {"createTime": "create_time", "startTime": "start_time", "endTime": "end_time", "updateTime": "update_time"}
_VERTEX_FIELDS = ("display_name", "create_time", "update_time", "start_time", "end_time")


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value


def _term(text: str, field: str, op: str, value: str, whole: str) -> str:
    raw = _unquote(value)

    def bad(rule: str) -> ValueError:
        return ValueError(f"filter {whole!r}: the term {text!r} {rule}")

    if field == "jobId":
        if op not in (":", "="):
            raise bad("can only use ':' or '=' on jobId")
        if op == ":" and raw.endswith("*"):
            return f'display_name:"{raw}"'
        return f'display_name="{raw}"'
    if field == "state":
        if raw.startswith("JOB_STATE_") and op in ("=", "!="):
            return f"state{op}{raw}"
        if raw not in _STATES:
            raise bad(f"names no job state (one of {', '.join(_STATES)})")
        if op in (":", "="):
            states = [f"state={s}" for s in _STATES[raw]]
            return states[0] if len(states) == 1 else "(" + " OR ".join(states) + ")"
        if op == "!=":
            states = [f"state!={s}" for s in _STATES[raw]]
            return states[0] if len(states) == 1 else "(" + " AND ".join(states) + ")"
        raise bad("can only use ':', '=' or '!=' on state")
    if field.startswith("labels."):
        if op not in (":", "=", "!="):
            raise bad("can only use ':', '=' or '!=' on a label")
        if op == ":" and raw == "*":
            return f"{field}:*"  # key exists (quoted, "*" would match only the literal value *)
        if op == ":" and raw.endswith("*"):
            raise bad(f"matches a label by prefix, which Vertex AI cannot: use {field}=<value> or {field}:*")
        return f'{field}{"=" if op == ":" else op}"{raw}"'
    if field in _TIMES or field in _VERTEX_FIELDS:
        if op == ":" and field not in ("display_name",):
            raise bad("compares times with <, >, <=, >=, = or !=")
        return f'{_TIMES.get(field, field)}{op}"{raw}"'
    raise bad("has no Vertex AI equivalent (jobId, state, labels.<key>, createTime, startTime, endTime can be used)")


def to_vertex_filter(ml_filter: str) -> str:
    """The Vertex AI list filter equivalent to the ``ml`` v1 ``ml_filter`` (see the module docstring)."""
    out: list[str] = []
    pos = 0
    text = ml_filter.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"filter {ml_filter!r}: cannot read {text[pos:].strip()!r} (at character {pos})")
        if match["paren"]:
            out.append(match["paren"])
        elif match["word"]:
            out.append(match["word"])
        else:
            out.append(_term(match["term"], match["field"], match["op"], match["value"], ml_filter))
        pos = match.end()
    depth = 0
    for token in out:
        depth += {"(": 1, ")": -1}.get(token, 0)
        if depth < 0:
            break
    if depth != 0:
        raise ValueError(f"filter {ml_filter!r}: unbalanced parentheses")
    return " ".join(out)
