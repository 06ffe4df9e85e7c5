"""Fault injection for reliability tests: error answers, latency and dropped connections (off by default).

Applied to the API routes only (``/v1/…``, ``/v2/…``), never to ``/healthz``, ``/admin/…`` or ``/console/…``.
Settable at start (``--fault-*`` options) and at runtime with ``POST /admin/faults``.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

_STATUS = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
MAX_LATENCY = 600.0  # seconds: longer than any client timeout worth testing
MAX_FAIL_NEXT = 1_000_000


def _number(key: str, value: Any, low: float, high: float, *, integer: bool = False) -> float:
    """``value`` as a finite number in [low, high] (ints only when ``integer``); ValueError naming ``key``."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise ValueError(f"{key}: must be {kind} between {low:g} and {high:g}; got {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{key}: must be {kind} between {low:g} and {high:g}; got {value!r}")
    return float(value) if not integer else value


@dataclass
class FaultSettings:
    """``error_rate``/``drop_rate`` are fractions of API requests; ``fail_next`` forces the next N to fail."""

    error_rate: float = 0.0
    codes: list[int] = field(default_factory=lambda: [429, 500, 503])
    latency: float = 0.0
    drop_rate: float = 0.0
    fail_next: int = 0
    seed: int | None = None


@dataclass
class FaultDecision:
    latency: float = 0.0
    drop: bool = False
    code: int | None = None

    @property
    def status(self) -> str:
        return _STATUS.get(self.code or 0, "UNAVAILABLE")


class Faults:
    """Thread-safe current settings plus counters of what was injected."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self.settings = FaultSettings()
        self._random = random.Random()
        self.injected = {"errors": 0, "drops": 0}
        self.update(asdict(settings or FaultSettings()))

    def update(self, values: dict[str, Any]) -> dict[str, Any]:
        """Replace the named settings (unknown names or bad values raise ValueError naming the field and
        leave every setting as it was)."""
        known = set(asdict(FaultSettings()))
        with self._lock:
            current = asdict(self.settings)
            for key, value in values.items():
                if key not in known:
                    raise ValueError(f"{key}: unknown fault setting (known: {', '.join(sorted(known))})")
                current[key] = value
            for key in ("error_rate", "drop_rate"):
                current[key] = _number(key, current[key], 0.0, 1.0)
            current["latency"] = _number("latency", current["latency"], 0.0, MAX_LATENCY)
            codes = current["codes"]
            if not isinstance(codes, list) or not codes or any(type(c) is not int or c not in _STATUS for c in codes):
                raise ValueError(f"codes: must be a non-empty list drawn from {sorted(_STATUS)}; got {codes!r}")
            current["fail_next"] = int(_number("fail_next", current["fail_next"], 0, MAX_FAIL_NEXT, integer=True))
            if current["seed"] is not None:
                current["seed"] = int(_number("seed", current["seed"], 0, 2**63 - 1, integer=True))
            self.settings = FaultSettings(**current)
            if "seed" in values:
                self._random = random.Random(self.settings.seed)
            return self.describe()

    def describe(self) -> dict[str, Any]:
        return {**asdict(self.settings), "injected": dict(self.injected)}

    def decide(self) -> FaultDecision:
        """What to do to the next API request."""
        with self._lock:
            s = self.settings
            decision = FaultDecision(latency=s.latency)
            if s.fail_next > 0:
                s.fail_next -= 1
                decision.code = s.codes[0]
            elif s.drop_rate and self._random.random() < s.drop_rate:
                decision.drop = True
            elif s.error_rate and self._random.random() < s.error_rate:
                decision.code = self._random.choice(s.codes)
            if decision.drop:
                self.injected["drops"] += 1
            if decision.code is not None:
                self.injected["errors"] += 1
            return decision
