"""Hyperparameter tuning for the local service: trial suggestion, early stopping, hypertune files.

Pure logic with no network: the service asks a :class:`TrialSuggester` for each trial's values,
reads the trainer's metrics with :func:`read_hypertune_metrics` and asks
:func:`should_stop_early` whether a running trial trails the completed ones.
"""

from __future__ import annotations

import json
import logging
import math
import random
import statistics
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.spec.hyperparameters import GRID_TYPES, LOG_SCALES

log = logging.getLogger(__name__)

# Median stopping rule: how much evidence is needed before a trial may be stopped.
MIN_COMPLETED_TRIALS = 2
MIN_INTERMEDIATE_VALUES = 3


@dataclass(frozen=True)
class Measurement:
    """One metric value a trainer reported through cloudml-hypertune."""

    step: int
    value: float
    timestamp: float


def format_value(param: dict[str, Any], value: Any) -> str:
    """Render a value the way trainingOutput.trials[].hyperparameters reports it (and the CLI flag)."""
    kind = param.get("type")
    if kind == "CATEGORICAL":
        return str(value)
    if kind == "INTEGER":
        return str(int(value))
    number = float(value)
    if kind == "DISCRETE" and number.is_integer():
        return str(int(number))
    return repr(number)


def _bounds(param: dict[str, Any]) -> tuple[float, float]:
    name = param.get("parameterName")
    try:
        low, high = float(param["minValue"]), float(param["maxValue"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"hyperparameters.params[{name}]: minValue and maxValue must be numbers") from err
    if not low < high:
        raise ValueError(f"hyperparameters.params[{name}]: minValue must be less than maxValue")
    if param.get("scaleType") in LOG_SCALES and low <= 0:
        raise ValueError(f"hyperparameters.params[{name}]: {param['scaleType']} needs minValue > 0")
    return low, high


def _choices(param: dict[str, Any]) -> list[Any]:
    key = "categoricalValues" if param.get("type") == "CATEGORICAL" else "discreteValues"
    values = list(param.get(key) or [])
    if not values:
        raise ValueError(f"hyperparameters.params[{param.get('parameterName')}]: {key} must not be empty")
    return values


def _scaled(unit: float, low: float, high: float, scale: str | None) -> float:
    """Map ``unit`` in [0, 1] onto [low, high] following scaleType (NONE means linear)."""
    if scale == "UNIT_LOG_SCALE":
        return math.exp(math.log(low) + unit * (math.log(high) - math.log(low)))
    if scale == "UNIT_REVERSE_LOG_SCALE":
        # Mirror of the log scale: values are dense near maxValue instead of minValue.
        return high + low - math.exp(math.log(low) + unit * (math.log(high) - math.log(low)))
    return low + unit * (high - low)


class TrialSuggester:
    """Suggests each trial's hyperparameters for one HyperparameterSpec (ml v1 ``hyperparameters``).

    GRID_SEARCH walks the grid lazily in a fixed order (the last parameter varies fastest), skipping
    the points an earlier job (``previous_trials``, from ``resumePreviousJobId``) already ran
    successfully; RANDOM_SEARCH samples honouring scaleType; ALGORITHM_UNSPECIFIED asks optuna's TPE
    sampler, which learns from every :meth:`report` and from the SUCCEEDED ``previous_trials``.
    Failed or cancelled earlier trials neither block a grid point nor teach the sampler.
    ``suggest`` may be called several times before any ``report`` (parallel trials).
    """

    def __init__(
        self, spec: dict[str, Any], *, seed: int | None = None, previous_trials: Sequence[dict[str, Any]] = ()
    ) -> None:
        self.params: list[dict[str, Any]] = list(spec.get("params") or [])
        if not self.params:
            raise ValueError("hyperparameters.params must list at least one parameter")
        for param in self.params:
            if param.get("type") in ("CATEGORICAL", "DISCRETE"):
                _choices(param)
            else:
                _bounds(param)
        self.algorithm: str = spec.get("algorithm") or "ALGORITHM_UNSPECIFIED"
        self.maximize: bool = spec.get("goal", "MAXIMIZE") != "MINIMIZE"
        self.max_trials: int = int(spec.get("maxTrials") or 1)
        self._random = random.Random(seed)
        self._suggested = 0
        self._grid_left = 0
        self._grid_walk: Iterator[dict[str, str]] = iter(())
        self._study: Any = None
        self._pending: dict[tuple[tuple[str, str], ...], list[Any]] = {}
        succeeded = [t for t in previous_trials if isinstance(t, dict) and t.get("state") == "SUCCEEDED"]
        if self.algorithm == "GRID_SEARCH":
            self._build_grid(succeeded)
        elif self.algorithm != "RANDOM_SEARCH":
            self._study = self._build_study(seed, succeeded)

    # -- public contract -------------------------------------------------------------------------

    def total_trials(self) -> int:
        """maxTrials, or the number of grid points not yet tried when that is smaller (GRID_SEARCH)."""
        if self.algorithm == "GRID_SEARCH":
            return min(self.max_trials, self._grid_left)
        return self.max_trials

    def suggest(self) -> dict[str, str] | None:
        """The next trial's ``{parameterName: value}``, or None once total_trials() were handed out."""
        if self._suggested >= self.total_trials():
            return None
        if self.algorithm == "GRID_SEARCH":
            point = next(self._grid_walk, None)
            if point is None:
                return None
            values = point
        elif self.algorithm == "RANDOM_SEARCH":
            values = {p["parameterName"]: format_value(p, self._sample(p)) for p in self.params}
        else:
            values = self._ask()
        self._suggested += 1
        return values

    def report(self, params: dict[str, str], objective: float | None, *, failed: bool = False) -> None:
        """Record a finished trial; the TPE sampler learns from it (a failure or no metric teaches nothing)."""
        if self._study is None:
            return
        import optuna

        key = tuple(sorted(params.items()))
        pending = self._pending.get(key)
        ok = not failed and objective is not None and math.isfinite(objective)
        if pending:
            trial = pending.pop(0)
            if ok:
                self._study.tell(trial, float(objective))  # type: ignore[arg-type]
            else:
                self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
        elif ok:
            # A trial this suggester did not ask for (e.g. the service restarted): still learn from it.
            self._add_completed(params, float(objective))  # type: ignore[arg-type]

    # -- grid ------------------------------------------------------------------------------------

    def _build_grid(self, succeeded: Sequence[dict[str, Any]]) -> None:
        """Set up the lazy walk: INTEGER axes stay ``range`` objects, so a huge grid costs no memory."""
        axes: list[range | list[str]] = []
        for param in self.params:
            kind = param.get("type")
            if kind not in GRID_TYPES:
                raise ValueError(
                    f"hyperparameters.params[{param.get('parameterName')}]: GRID_SEARCH only supports "
                    f"INTEGER, CATEGORICAL and DISCRETE parameters, not {kind}"
                )
            if kind == "INTEGER":
                low, high = _bounds(param)
                axes.append(range(math.ceil(low), math.floor(high) + 1))
            else:
                axes.append([format_value(param, v) for v in _choices(param)])
        names = [p["parameterName"] for p in self.params]
        tried: set[tuple[str, ...]] = set()
        for trial in succeeded:
            values = trial.get("hyperparameters")
            if not isinstance(values, dict) or set(values) != set(names):
                continue
            key = tuple(str(values[name]) for name in names)
            if all(_on_axis(axis, text) for axis, text in zip(axes, key, strict=True)):
                tried.add(key)
        size = math.prod(len(axis) for axis in axes)
        self._grid_left = size - len(tried)
        self._grid_walk = _walk_grid(names, axes, size, tried)

    # -- random ----------------------------------------------------------------------------------

    def _sample(self, param: dict[str, Any]) -> Any:
        kind, scale = param.get("type"), param.get("scaleType")
        if kind == "CATEGORICAL":
            return self._random.choice(_choices(param))
        if kind == "DISCRETE":
            values = [float(v) for v in _choices(param)]
            if scale not in LOG_SCALES or len(values) < 2 or values[0] <= 0:
                return self._random.choice(values)
            target = _scaled(self._random.random(), values[0], values[-1], scale)
            return min(values, key=lambda v: abs(math.log(v) - math.log(target)))
        low, high = _bounds(param)
        if kind == "INTEGER":
            # Sample the continuous range [min, max + 1) on the requested scale, then floor.
            value = _scaled(self._random.random(), low, high + 1, scale)
            return min(int(high), max(int(low), math.floor(value)))
        return min(high, max(low, _scaled(self._random.random(), low, high, scale)))

    # -- bayesian (optuna TPE) -------------------------------------------------------------------

    def _build_study(self, seed: int | None, succeeded: Sequence[dict[str, Any]]) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._distributions = {p["parameterName"]: self._distribution(p) for p in self.params}
        startup = max(2, min(10, self.max_trials // 4))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
        study = optuna.create_study(direction="maximize" if self.maximize else "minimize", sampler=sampler)
        self._study = study
        for trial in succeeded:
            final = trial.get("finalMetric") or {}
            if trial.get("hyperparameters") and final.get("objectiveValue") is not None:
                self._add_completed(trial["hyperparameters"], float(final["objectiveValue"]))
        return study

    @staticmethod
    def _distribution(param: dict[str, Any]) -> Any:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        kind = param.get("type")
        if kind == "CATEGORICAL":
            return CategoricalDistribution([str(v) for v in _choices(param)])
        if kind == "DISCRETE":
            # The index keeps the values' order, which a categorical distribution would lose.
            return IntDistribution(0, len(_choices(param)) - 1)
        low, high = _bounds(param)
        # UNIT_REVERSE_LOG_SCALE: the sampler works on the mirror ``min + max - x`` on a log scale
        # (see _mirror), so the values it hands out are dense near maxValue, as random search's are.
        log_scale = param.get("scaleType") in LOG_SCALES
        if kind == "INTEGER":
            return IntDistribution(math.ceil(low), math.floor(high), log=log_scale)
        return FloatDistribution(low, high, log=log_scale)

    def _ask(self) -> dict[str, str]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = self._study.ask(self._distributions)
        values = {p["parameterName"]: self._render(p, trial.params[p["parameterName"]]) for p in self.params}
        self._pending.setdefault(tuple(sorted(values.items())), []).append(trial)
        return values

    def _render(self, param: dict[str, Any], internal: Any) -> str:
        if param.get("type") == "DISCRETE":
            return format_value(param, _choices(param)[int(internal)])
        return format_value(param, _mirror(param, internal))

    def _internal(self, param: dict[str, Any], text: str) -> Any:
        kind = param.get("type")
        if kind == "CATEGORICAL":
            return text
        if kind == "DISCRETE":
            values = [float(v) for v in _choices(param)]
            return min(range(len(values)), key=lambda i: abs(values[i] - float(text)))
        if kind == "INTEGER":
            return _mirror(param, int(float(text)))
        return _mirror(param, float(text))

    def _add_completed(self, params: dict[str, str], objective: float) -> None:
        import optuna

        try:
            internal = {p["parameterName"]: self._internal(p, params[p["parameterName"]]) for p in self.params}
            frozen = optuna.trial.create_trial(
                params=internal, distributions=self._distributions, value=objective
            )
            self._study.add_trial(frozen)
        except (KeyError, ValueError) as err:
            # A trial from an older spec (renamed parameter, value out of range) cannot seed this one.
            log.warning("ignoring trial %s for the TPE sampler: %s", params, err)


def _on_axis(axis: range | list[str], text: str) -> bool:
    """Is ``text`` (a value as trainingOutput reports it) one of this grid axis's values?"""
    if isinstance(axis, list):
        return text in axis
    try:
        number = int(text)
    except ValueError:
        return False
    return str(number) == text and number in axis


def _walk_grid(
    names: list[str], axes: list[range | list[str]], size: int, tried: set[tuple[str, ...]]
) -> Iterator[dict[str, str]]:
    """Every grid point not in ``tried``, last axis fastest, decoded from its index one at a time.

    (itertools.product would first copy each axis into a tuple: a 1e9-wide INTEGER axis would not fit.)
    """
    sizes = [len(axis) for axis in axes]
    for index in range(size):
        digits: list[int] = []
        rest = index
        for width in reversed(sizes):
            rest, digit = divmod(rest, width)
            digits.append(digit)
        key = tuple(str(axis[d]) for axis, d in zip(axes, reversed(digits), strict=True))
        if key not in tried:
            yield dict(zip(names, key, strict=True))


def _mirror(param: dict[str, Any], value: Any) -> Any:
    """``min + max - value`` for a UNIT_REVERSE_LOG_SCALE INTEGER/DOUBLE (its own inverse), else ``value``.

    optuna has no reverse-log distribution: TPE samples the mirror on a log scale instead.
    """
    if param.get("scaleType") != "UNIT_REVERSE_LOG_SCALE" or param.get("type") not in ("INTEGER", "DOUBLE"):
        return value
    low, high = _bounds(param)
    if param.get("type") == "INTEGER":
        return math.ceil(low) + math.floor(high) - int(value)
    return min(high, max(low, low + high - float(value)))


def read_hypertune_metrics(path: str | Path, tag: str) -> list[Measurement]:
    """The values reported for ``tag`` in a cloudml-hypertune metrics file, in file order.

    cloudml-hypertune rewrites ``$CLOUD_ML_HP_METRIC_FILE`` with JSON lines
    ``{"timestamp", "trial", "<tag>": "<float>", "global_step": "<int>", ...}`` (its last 100
    reports). A missing file gives ``[]``; lines that are not JSON (a file caught mid-rewrite),
    lack the tag or hold a non-finite value are skipped.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    found: list[Measurement] = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or tag not in entry:
                continue
            value = float(entry[tag])
            step = int(float(entry.get("global_step") or 0))
            stamp = float(entry.get("timestamp") or 0.0)
        except (ValueError, TypeError):
            continue
        if math.isfinite(value):
            found.append(Measurement(step=step, value=value, timestamp=stamp))
    return found


def should_stop_early(goal: str, history: Sequence[float], completed: Sequence[Sequence[float]]) -> bool:
    """Median stopping rule: should a running trial with intermediate values ``history`` stop now?

    Let ``n = len(history)``. For every completed trial that reported at least one value, take the
    running average of its first ``n`` values (all of them if it reported fewer). The trial is
    stopped when its best value so far (max for MAXIMIZE, min for MINIMIZE) is strictly worse than
    the median of those averages. Nothing is stopped before ``MIN_INTERMEDIATE_VALUES`` values
    were reported or while fewer than ``MIN_COMPLETED_TRIALS`` completed trials have values.
    """
    if len(history) < MIN_INTERMEDIATE_VALUES:
        return False
    n = len(history)
    averages = [statistics.fmean(values[:n]) for values in completed if len(values) > 0]
    if len(averages) < MIN_COMPLETED_TRIALS:
        return False
    median = statistics.median(averages)
    if goal == "MINIMIZE":
        return min(history) > median
    return max(history) < median
