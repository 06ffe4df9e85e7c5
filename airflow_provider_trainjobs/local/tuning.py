"""Hyperparameter tuning for the local service: trial suggestion, early stopping, hypertune files.

Pure logic with no network: the service asks a :class:`TrialSuggester` for each trial's values,
reads the trainer's metrics with :func:`read_hypertune_metrics` and asks
:func:`should_stop_early` whether a running trial trails the completed ones.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOG_SCALES = ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
GRID_TYPES = ("INTEGER", "CATEGORICAL", "DISCRETE")

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

    GRID_SEARCH walks the grid in a fixed order (the last parameter varies fastest), RANDOM_SEARCH
    samples honouring scaleType, ALGORITHM_UNSPECIFIED asks optuna's TPE sampler, which learns from
    every :meth:`report` and from the trials of ``resumePreviousJobId`` (``previous_trials``).
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
        self._grid: list[dict[str, str]] = []
        self._study: Any = None
        self._pending: dict[tuple[tuple[str, str], ...], list[Any]] = {}
        if self.algorithm == "GRID_SEARCH":
            self._grid = self._build_grid(previous_trials)
        elif self.algorithm != "RANDOM_SEARCH":
            self._study = self._build_study(seed, previous_trials)

    # -- public contract -------------------------------------------------------------------------

    def total_trials(self) -> int:
        """maxTrials, or the number of grid points left when that is smaller (GRID_SEARCH)."""
        if self.algorithm == "GRID_SEARCH":
            return min(self.max_trials, len(self._grid))
        return self.max_trials

    def suggest(self) -> dict[str, str] | None:
        """The next trial's ``{parameterName: value}``, or None once total_trials() were handed out."""
        if self._suggested >= self.total_trials():
            return None
        if self.algorithm == "GRID_SEARCH":
            values = self._grid[self._suggested]
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

    def _build_grid(self, previous_trials: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
        axes: list[list[str]] = []
        for param in self.params:
            kind = param.get("type")
            if kind not in GRID_TYPES:
                raise ValueError(
                    f"hyperparameters.params[{param.get('parameterName')}]: GRID_SEARCH only supports "
                    f"INTEGER, CATEGORICAL and DISCRETE parameters, not {kind}"
                )
            if kind == "INTEGER":
                low, high = _bounds(param)
                axes.append([str(v) for v in range(math.ceil(low), math.floor(high) + 1)])
            else:
                axes.append([format_value(param, v) for v in _choices(param)])
        names = [p["parameterName"] for p in self.params]
        done = {tuple(sorted((t.get("hyperparameters") or {}).items())) for t in previous_trials}
        grid = (dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes))
        return [point for point in grid if tuple(sorted(point.items())) not in done]

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

    def _build_study(self, seed: int | None, previous_trials: Sequence[dict[str, Any]]) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._distributions = {p["parameterName"]: self._distribution(p) for p in self.params}
        startup = max(2, min(10, self.max_trials // 4))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
        study = optuna.create_study(direction="maximize" if self.maximize else "minimize", sampler=sampler)
        self._study = study
        for trial in previous_trials:
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
        log_scale = param.get("scaleType") == "UNIT_LOG_SCALE"
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
        return format_value(param, internal)

    def _internal(self, param: dict[str, Any], text: str) -> Any:
        kind = param.get("type")
        if kind == "CATEGORICAL":
            return text
        if kind == "DISCRETE":
            values = [float(v) for v in _choices(param)]
            return min(range(len(values)), key=lambda i: abs(values[i] - float(text)))
        if kind == "INTEGER":
            return int(float(text))
        return float(text)

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
