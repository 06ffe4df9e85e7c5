"""The ``filter`` of ``projects.jobs.list`` and of Cloud Logging ``entries:list``, as the local service reads them.

Jobs: terms ``field:value`` (``*`` suffix = prefix match), ``field=value``, ``field!=value``, ``NOT term``,
joined with AND / OR (AND binds tighter), parentheses allowed. Fields: ``jobId``, ``state``,
``labels.<key>``, ``createTime`` (with ``<``, ``>``, ``<=``, ``>=``), any dotted path of the Job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]
MAX_FILTER_LENGTH = 20_000  # characters, as Cloud Logging's own filter limit
MAX_NESTING = 64  # parentheses plus NOT operators around one term


class FilterError(ValueError):
    """The filter could not be read; the message says where."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lpar>\() | (?P<rpar>\)) |
        (?P<term>[A-Za-z_][\w.]*\s*(?:!=|<=|>=|=|:|<|>)\s*(?:"[^"]*"|'[^']*'|[^\s()]+))|
        (?P<word>AND|OR|NOT|-)
    )""",
    re.VERBOSE,
)
_TERM = re.compile(r"""(?P<field>[A-Za-z_][\w.]*)\s*(?P<op>!=|<=|>=|=|:|<|>)\s*(?P<value>.+)""")


def _lookup(job: dict[str, Any], path: str) -> Any:
    value: Any = job
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _term(text: str) -> Predicate:
    match = _TERM.fullmatch(text.strip())
    if not match:
        raise FilterError(f"filter: cannot read the term {text!r}")
    field, op, value = match["field"], match["op"], match["value"].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]

    def predicate(job: dict[str, Any]) -> bool:
        actual = _lookup(job, field)
        if actual is None:
            return op == "!="
        actual_s = str(actual).lower() if isinstance(actual, bool) else str(actual)
        if op == ":":
            if value.endswith("*"):
                return actual_s.startswith(value[:-1])
            return actual_s == value or (isinstance(actual, str) and value in actual_s.split())
        if op == "=":
            return actual_s == value
        if op == "!=":
            return actual_s != value
        left: Any
        right: Any
        try:
            left, right = float(actual_s), float(value)
        except ValueError:
            left, right = actual_s, value
        return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]

    return predicate


def parse_job_filter(text: str | None) -> Predicate:
    """Compile a jobs.list filter to a predicate over Job dicts; raises FilterError naming the problem."""
    if not text or not text.strip():
        return lambda job: True
    tokens = _tokens(text)
    index = 0
    depth = 0

    def nest() -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_NESTING:
            raise FilterError(f"filter: parentheses and NOT nested deeper than {MAX_NESTING} levels")

    def peek() -> tuple[str, str] | None:
        return tokens[index] if index < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal index
        token = tokens[index]
        index += 1
        return token

    def parse_or() -> Predicate:
        parts = [parse_and()]
        while (tok := peek()) and tok == ("word", "OR"):
            take()
            parts.append(parse_and())
        return parts[0] if len(parts) == 1 else (lambda job: any(p(job) for p in parts))

    def parse_and() -> Predicate:
        parts = [parse_not()]
        while (tok := peek()) and (tok == ("word", "AND") or tok[0] in ("term", "lpar") or tok[1] in ("NOT", "-")):
            if tok == ("word", "AND"):
                take()
            parts.append(parse_not())
        return parts[0] if len(parts) == 1 else (lambda job: all(p(job) for p in parts))

    def parse_not() -> Predicate:
        tok = peek()
        nonlocal depth
        if tok and tok[0] == "word" and tok[1] in ("NOT", "-"):
            take()
            nest()
            inner = parse_not()
            depth -= 1
            return lambda job: not inner(job)
        return parse_atom()

    def parse_atom() -> Predicate:
        tok = peek()
        if tok is None:
            raise FilterError("filter: ends where a term was expected")
        kind, value = take()
        if kind == "lpar":
            nonlocal depth
            nest()
            inner = parse_or()
            if peek() != ("rpar", ")"):
                raise FilterError("filter: missing ')'")
            take()
            depth -= 1
            return inner
        if kind == "term":
            return _term(value)
        raise FilterError(f"filter: unexpected {value!r}")

    result = parse_or()
    if index != len(tokens):
        raise FilterError(f"filter: unexpected {tokens[index][1]!r}")
    return result


MAX_CLAUSES = 2000  # OR-ed groups a Logging filter may expand to (AND over ORs multiplies them)
Clause = list[tuple[str, str, str]]


def _tokens(text: str) -> list[tuple[str, str]]:
    """The filter's tokens (parentheses, words, ``field op value`` terms); FilterError where none reads."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"filter: {len(text)} characters; at most {MAX_FILTER_LENGTH} are accepted")
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text) and text[pos:].strip():
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"filter: cannot read {text[pos:pos + 80].strip()!r} (at character {pos})")
        kind = match.lastgroup or ""
        tokens.append((kind, match[kind]))
        pos = match.end()
    return tokens


def _triple(text: str) -> tuple[str, str, str]:
    match = _TERM.fullmatch(text.strip())
    if not match:
        raise FilterError(f"filter: cannot read the term {text[:80]!r}")
    value = match["value"].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return match["field"], match["op"], value


def parse_log_filter(text: str) -> list[Clause]:
    """A Logging filter (comparisons joined by AND / OR, parentheses; AND binds tighter) as OR-ed clauses of
    AND-ed (field, op, value) triples. Bounded: length, nesting and at most MAX_CLAUSES clauses."""
    tokens = _tokens(text) if text.strip() else []
    if not tokens:
        return [[]]
    index = 0
    depth = 0

    def peek() -> tuple[str, str] | None:
        return tokens[index] if index < len(tokens) else None

    def parse_or() -> list[Clause]:
        nonlocal index
        clauses = parse_and()
        while peek() == ("word", "OR"):
            index += 1
            clauses = clauses + parse_and()
            if len(clauses) > MAX_CLAUSES:
                raise FilterError(f"filter: more than {MAX_CLAUSES} OR-ed groups")
        return clauses

    def parse_and() -> list[Clause]:
        nonlocal index
        clauses = parse_atom()
        while (tok := peek()) and (tok == ("word", "AND") or tok[0] in ("term", "lpar")):
            if tok == ("word", "AND"):
                index += 1
            right = parse_atom()
            if len(clauses) * len(right) > MAX_CLAUSES:
                raise FilterError(f"filter: more than {MAX_CLAUSES} OR-ed groups once its ANDs are expanded")
            clauses = [left + more for left in clauses for more in right]
        return clauses

    def parse_atom() -> list[Clause]:
        nonlocal index, depth
        tok = peek()
        if tok is None:
            raise FilterError("filter: ends where a term was expected")
        index += 1
        kind, value = tok
        if kind == "lpar":
            depth += 1
            if depth > MAX_NESTING:
                raise FilterError(f"filter: parentheses nested deeper than {MAX_NESTING} levels")
            inner = parse_or()
            if peek() != ("rpar", ")"):
                raise FilterError("filter: missing ')'")
            index += 1
            depth -= 1
            return inner
        if kind == "term":
            return [[_triple(value)]]
        if value in ("NOT", "-"):
            raise FilterError("filter: NOT is not supported in a logging filter by the local service")
        raise FilterError(f"filter: unexpected {value!r}")

    result = parse_or()
    if index != len(tokens):
        raise FilterError(f"filter: unexpected {tokens[index][1][:80]!r}")
    return result
