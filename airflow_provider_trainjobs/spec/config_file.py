"""Reading a config file (gcloud's ``--config``) so that any file ends in a Job resource or one InvalidJobSpec.

The file is refused unread past MAX_CONFIG_BYTES; it must be UTF-8. JSON nesting is measured before parsing
(``json`` recurses). YAML is read with libyaml's C loader when PyYAML has it, after a pass over the parser's
events that bounds nesting, the number of values once aliases are expanded (an alias bomb is refused before it
is built), self-referencing aliases, and overlong numbers (Python refuses ints past 4,300 digits, and YAML's
base-60 ints take quadratic time to convert).
"""

from __future__ import annotations

import json
import os
import re
import stat
from itertools import accumulate
from pathlib import Path
from typing import Any

from .errors import InvalidJobSpec
from .limits import MAX_CONFIG_BYTES, MAX_DEPTH, MAX_INT_DIGITS, MAX_VALUES, show

__all__ = ["read_config_file"]

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def read_config_file(path: Path) -> Any:
    """The parsed content of the YAML/JSON file ``path`` (``.json``: JSON, else YAML); InvalidJobSpec("config")
    naming the file for anything that cannot be read within the limits."""
    source = f"config file {show(str(path), 200)}"
    data = _read_bytes(path, source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidJobSpec(
            "config", f"{source} is not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line} "
            f"(offset {exc.start}); save it as UTF-8"
        ) from None
    if path.suffix.lower() == ".json":
        return _parse_json(text, source)
    return _parse_yaml(text, source)


def _read_bytes(path: Path, source: str) -> bytes:
    limit = f"at most {MAX_CONFIG_BYTES} bytes (1 MiB) are read"
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)  # a FIFO or device would block or never end
        data = b""
        if regular:
            with open(path, "rb") as fh:
                data = fh.read(MAX_CONFIG_BYTES + 1)  # the size is checked on what was read, not on stat
    except OSError as exc:
        raise InvalidJobSpec("config", f"cannot read {source}: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. an embedded NUL byte in the path
        raise InvalidJobSpec("config", f"cannot read {source}: {exc}") from None
    if not regular:
        raise InvalidJobSpec("config", f"{source} is not a regular file")
    if len(data) > MAX_CONFIG_BYTES:
        raise InvalidJobSpec("config", f"{source} is too large: {limit}")
    return data


class _LongNumber(ValueError):
    """A JSON integer with more than MAX_INT_DIGITS digits."""


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _LongNumber(f"a number of {len(text)} digits (at most {MAX_INT_DIGITS} are read)")
    return int(text)


def _parse_json(text: str, source: str) -> Any:
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub('""', text))
    if max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0) > MAX_DEPTH:
        raise InvalidJobSpec("config", f"{source} is nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text, parse_int=_json_int)
    except _LongNumber as exc:
        raise InvalidJobSpec("config", f"{source} holds {exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidJobSpec("config", f"{source} is not valid JSON: {show(str(exc), 200)}") from None


def _parse_yaml(text: str, source: str) -> Any:
    import yaml  # deferred: only needed when a file is read

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's C parser when PyYAML was built with it

    class Loader(base):  # type: ignore[valid-type, misc]
        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep)
            except yaml.YAMLError:
                raise
            except Exception as exc:  # PyYAML's own constructors: 2001-02-30, "!!timestamp x" (AttributeError)
                raise yaml.constructor.ConstructorError(
                    None, None, f"cannot read this value: {type(exc).__name__}: {show(str(exc), 100)}",
                    node.start_mark,
                ) from None

    try:
        _check_events(text, Loader, source)
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InvalidJobSpec("config", f"{source} is not valid YAML: {show(str(exc), 300)}") from None


def _check_events(text: str, loader_class: Any, source: str) -> None:
    """Refuse, before anything is built, YAML nested past MAX_DEPTH, holding more than MAX_VALUES values once
    aliases are expanded, with an alias inside its own anchor, or with an overlong number."""
    import yaml

    loader = loader_class(text)
    sizes: dict[str, int] = {}  # anchor -> values it expands to
    counts: list[list[Any]] = [[0, None]]  # per open collection: [values in it so far, its anchor]
    total = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            line = f"line {event.start_mark.line + 1}" if event.start_mark else "the file"
            if isinstance(event, yaml.CollectionStartEvent):
                if len(counts) > MAX_DEPTH:
                    raise InvalidJobSpec("config", f"{source} is nested more than {MAX_DEPTH} levels deep ({line})")
                counts.append([1, event.anchor])
                total += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                size, anchor = counts.pop()
                if anchor is not None:
                    sizes[anchor] = size
                counts[-1][0] += size
            elif isinstance(event, yaml.ScalarEvent):
                if len(event.value) > MAX_INT_DIGITS and _is_number(loader, event):
                    raise InvalidJobSpec("config", f"{source} holds a number written with {len(event.value)} "
                                         f"characters ({line}); at most {MAX_INT_DIGITS} are read")
                if event.anchor is not None:
                    sizes[event.anchor] = 1
                counts[-1][0] += 1
                total += 1
            elif isinstance(event, yaml.AliasEvent):
                if any(anchor == event.anchor for _, anchor in counts):
                    raise InvalidJobSpec("config", f"{source}: the alias *{show(event.anchor, 40)} ({line}) is inside "
                                         "its own anchor, which makes a value that contains itself")
                size = sizes.get(event.anchor or "", 1)
                counts[-1][0] += size
                total += size
            if total > MAX_VALUES:
                raise InvalidJobSpec("config", f"{source} holds more than {MAX_VALUES} values once YAML aliases are "
                                     f"expanded ({line}); a training job needs far fewer")
    finally:
        loader.dispose()


def _is_number(loader: Any, event: Any) -> bool:
    import yaml

    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    return tag in _NUMBER_TAGS
