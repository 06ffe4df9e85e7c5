"""HyperparameterSpec rules (SPEC.md "Hyperparameter tuning"); errors name the parameter.

Parameter names become trainer flags (``--<name>=<value>``), so they must be valid flag names:
``^[A-Za-z][A-Za-z0-9_-]*$`` (a letter, then letters, digits, '_' or '-'), at most 128 characters.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .limits import MAX_NAME_IN_PATH, show
from .rules import as_int, check_job_id

__all__ = ["GRID_TYPES", "MAX_DISCRETE_VALUES", "PARAMETER_NAME_RE", "check_hyperparameters"]

Problems = list[tuple[str, str]]

PARAMETER_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,127}$")
GRID_TYPES = ("INTEGER", "CATEGORICAL", "DISCRETE")
MAX_DISCRETE_VALUES = 1000
LOG_SCALES = ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
_RANGE_TYPES = ("DOUBLE", "INTEGER")
_TYPES = ("DOUBLE", "INTEGER", "CATEGORICAL", "DISCRETE")


def _number(value: Any) -> float | None:
    """A finite double from a number or numeric string; None otherwise (the schema check reports why)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, int) and abs(value).bit_length() > 1024:
        return None  # beyond the double range: float() would raise OverflowError
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _non_finite(value: Any) -> bool:
    """NaN or an infinity (a float, or Google's "NaN"/"Infinity" strings): valid doubles, but no search range."""
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, str) and value.strip().lstrip("+-").lower() in ("nan", "inf", "infinity")


def check_hyperparameters(spec: Any, field: str = "trainingInput.hyperparameters") -> Problems:
    """Every HyperparameterSpec rule; wrong types and enum values are left to the schema check."""
    if not isinstance(spec, dict):
        return []
    problems: Problems = []
    tag = spec.get("hyperparameterMetricTag")
    if isinstance(tag, str) and not tag.strip():
        problems.append(
            (f"{field}.hyperparameterMetricTag", "must not be empty (default: training/hptuning/metric)")
        )

    max_trials = as_int(spec.get("maxTrials", 1))
    if max_trials is not None and max_trials < 1:
        problems.append((f"{field}.maxTrials", f"must be 1 or more, got {show(max_trials)}"))
    parallel = as_int(spec.get("maxParallelTrials", 1))
    if parallel is not None:
        if parallel < 1:
            problems.append((f"{field}.maxParallelTrials", f"must be 1 or more, got {show(parallel)}"))
        elif max_trials is not None and max_trials >= 1 and parallel > max_trials:
            problems.append(
                (
                    f"{field}.maxParallelTrials",
                    f"{show(parallel)} is more than maxTrials ({show(max_trials)}); it must be ≤ maxTrials",
                )
            )
    failed = as_int(spec.get("maxFailedTrials", 0))
    if failed is not None and failed < 0:
        problems.append((f"{field}.maxFailedTrials", f"must be 0 or more, got {show(failed)}"))

    resume = spec.get("resumePreviousJobId")
    if resume:
        problems += check_job_id(resume, f"{field}.resumePreviousJobId")

    params = spec.get("params")
    if not params:
        problems.append((f"{field}.params", "required: at least one parameter to tune"))
        return problems
    if not isinstance(params, list | tuple):
        return problems
    algorithm = spec.get("algorithm")
    seen: set[str] = set()
    for index, param in enumerate(params):
        if not isinstance(param, dict):
            continue
        name = param.get("parameterName")
        where = f"{field}.params[{name if isinstance(name, str) and 0 < len(name) <= MAX_NAME_IN_PATH else index}]"
        if not name:
            problems.append(
                (f"{where}.parameterName", "required: the name passed to the trainer as --<name>")
            )
        elif isinstance(name, str):
            if not PARAMETER_NAME_RE.match(name):
                problems.append(
                    (
                        f"{where}.parameterName",
                        f"{show(name)} is not valid as a command-line flag: a letter, then letters, digits, "
                        "'_' or '-', at most 128 characters",
                    )
                )
            if name in seen:
                problems.append(
                    (f"{where}.parameterName", f"duplicate parameter name {show(name)}; names must be unique")
                )
            seen.add(name)
        problems += _check_param(param, where, algorithm)
    return problems


def _check_param(param: dict[str, Any], where: str, algorithm: Any) -> Problems:
    kind = param.get("type")
    if kind is None or kind == "PARAMETER_TYPE_UNSPECIFIED":
        return [(f"{where}.type", f"required: one of {', '.join(_TYPES)}")]
    if kind not in _TYPES:
        return []  # the schema reports the enum
    problems: Problems = []
    if algorithm == "GRID_SEARCH" and kind not in GRID_TYPES:
        problems.append(
            (f"{where}.type", f"GRID_SEARCH supports only {', '.join(GRID_TYPES)} parameters, not {kind}")
        )
    present = {key for key in ("minValue", "maxValue", "categoricalValues", "discreteValues") if key in param}
    allowed = {
        "DOUBLE": {"minValue", "maxValue"},
        "INTEGER": {"minValue", "maxValue"},
        "CATEGORICAL": {"categoricalValues"},
        "DISCRETE": {"discreteValues"},
    }[kind]
    for key in sorted(present - allowed):
        problems.append((f"{where}.{key}", f"not allowed for a {kind} parameter"))
    scale = param.get("scaleType")
    if kind in _RANGE_TYPES:
        problems += _check_range(param, where, kind, scale)
    elif kind == "CATEGORICAL":
        problems += _check_categorical(param, where)
        if scale not in (None, "NONE"):
            problems.append((f"{where}.scaleType", "not allowed for a CATEGORICAL parameter"))
    else:
        problems += _check_discrete(param, where, scale)
    return problems


def _check_range(param: dict[str, Any], where: str, kind: str, scale: Any) -> Problems:
    problems: Problems = []
    bounds: dict[str, float] = {}
    for key in ("minValue", "maxValue"):
        raw = param.get(key)
        if raw is None:
            problems.append((f"{where}.{key}", f"required for a {kind} parameter"))
            continue
        number = _number(raw)
        if number is None:
            if _non_finite(raw):
                problems.append((f"{where}.{key}", f"must be a finite number, got {show(raw)}"))
            continue  # else the schema reports the type
        if kind == "INTEGER" and not number.is_integer():
            problems.append((f"{where}.{key}", f"{show(raw)} is not an integer, as an INTEGER parameter needs"))
            continue
        bounds[key] = number
    low, high = bounds.get("minValue"), bounds.get("maxValue")
    if low is not None and high is not None and not low < high:
        problems.append((f"{where}.minValue", f"must be less than maxValue ({low:g} ≥ {high:g})"))
    if scale in LOG_SCALES and low is not None and low <= 0:
        problems.append((f"{where}.minValue", f"must be greater than 0 for {scale}, got {low:g}"))
    return problems


def _check_categorical(param: dict[str, Any], where: str) -> Problems:
    values = param.get("categoricalValues")
    if not values:
        return [
            (
                f"{where}.categoricalValues",
                "required: a non-empty list of strings for a CATEGORICAL parameter",
            )
        ]
    if not isinstance(values, list | tuple):
        return []
    problems: Problems = []
    seen: set[str] = set()
    for value in values:
        if isinstance(value, str):
            if not value:
                problems.append((f"{where}.categoricalValues", "values must be non-empty strings"))
            elif value in seen:
                problems.append(
                    (f"{where}.categoricalValues", f"duplicate value {show(value)}; values must be unique")
                )
            seen.add(value)
    return problems


def _check_discrete(param: dict[str, Any], where: str, scale: Any) -> Problems:
    values = param.get("discreteValues")
    if not values:
        return [(f"{where}.discreteValues", "required: a non-empty list of numbers for a DISCRETE parameter")]
    if not isinstance(values, list | tuple):
        return []
    problems: Problems = []
    if len(values) > MAX_DISCRETE_VALUES:
        problems.append(
            (f"{where}.discreteValues", f"{len(values)} values given; at most {MAX_DISCRETE_VALUES}")
        )
    numbers = [_number(value) for value in values]
    if None in numbers:
        if any(map(_non_finite, values)):
            problems.append((f"{where}.discreteValues", "values must be finite numbers"))
        return problems  # else the schema reports the type
    clean = [n for n in numbers if n is not None]
    if any(b <= a for a, b in zip(clean, clean[1:], strict=False)):
        problems.append((f"{where}.discreteValues", "values must be strictly increasing"))
    if scale in LOG_SCALES and clean and min(clean) <= 0:
        problems.append((f"{where}.discreteValues", f"values must all be greater than 0 for {scale}"))
    return problems
