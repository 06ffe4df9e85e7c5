"""The console's trials chart: an SVG scatter of each trial's objective, with rounded ("nice") axis ticks.

The y range comes from the data, widened to the nearest ticks (0.55..0.93 is drawn 0.5..1.0, never past
the last tick), and the SVG scales to the page's full width (viewBox, width 100%).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

WIDTH, HEIGHT = 1100, 340
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 30, 50


def objective(trial: dict[str, Any]) -> float | None:
    """The trial's finalMetric as a number for display (any state); which trial is best is spec's call."""
    value: Any = (trial.get("finalMetric") or {}).get("objectiveValue")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def trial_sort_key(trial: dict[str, Any]) -> tuple[int, str]:
    trial_id = str(trial.get("trialId", ""))
    return (int(trial_id), "") if trial_id.isdigit() and len(trial_id) < 10 else (1 << 30, trial_id)


def is_best(trial: dict[str, Any], best: dict[str, Any] | None) -> bool:
    return best is not None and str(trial.get("trialId")) == str(best.get("trialId"))


def fmt(value: float) -> str:
    return f"{value:.6g}"


def nice_step(span: float, ticks: int = 5) -> float:
    """A step of 1, 2, 2.5 or 5 times a power of ten that cuts ``span`` into about ``ticks`` intervals."""
    raw = span / max(1, ticks)
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)


def _decimals(step: float) -> int:
    """The fewest decimals that write ``step`` (and so every multiple of it) exactly: 0.25 -> 2, 5 -> 0."""
    return next((d for d in range(12) if abs(round(step, d) - step) <= step * 1e-9), 12)


def nice_ticks(low: float, high: float, ticks: int = 5) -> list[float]:
    """Rounded tick values from a multiple of the step at or below ``low`` to one at or above ``high``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high - low <= 1e-12 * max(1.0, abs(high)):
        pad = abs(low) * 0.02 or 1.0
        low, high = low - pad, high + pad
    step = nice_step(high - low, ticks)
    decimals = _decimals(step)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(i * step, decimals) for i in range(first, last + 1)]


def tick_label(value: float, ticks: Sequence[float]) -> str:
    """``value`` with as many decimals as the ticks' step needs (0.5, 0.6, ... not 0.61845), never ``-0``."""
    decimals = _decimals(abs(ticks[1] - ticks[0])) if len(ticks) > 1 else 0
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def chart(trials: Sequence[dict[str, Any]], best: dict[str, Any] | None, tag: str, goal: str) -> str:
    """An SVG scatter of objective per trial id; the best trial is a larger, labelled, green point."""
    points = [(t, trial_sort_key(t)[0], objective(t)) for t in trials]
    plotted = [(t, x, y) for t, x, y in points if y is not None and x < (1 << 30)]
    if not plotted:
        return "<p>No trial has reported an objective yet.</p>"
    xs = [x for _, x, _ in plotted]
    ys = [y for _, _, y in plotted if y is not None]
    x_lo, x_hi = min(xs), max(xs)
    if x_lo == x_hi:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    ticks = nice_ticks(min(ys), max(ys))
    y_lo, y_hi = ticks[0], ticks[-1]

    def sx(x: float) -> float:
        return LEFT + (x - x_lo) / (x_hi - x_lo) * (WIDTH - LEFT - RIGHT)

    def sy(y: float) -> float:
        return TOP + (y_hi - y) / (y_hi - y_lo) * (HEIGHT - TOP - BOTTOM)

    parts = [
        f'<svg id="trials-chart" xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'preserveAspectRatio="xMinYMin meet" role="img" aria-label="objective per trial">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="#5f6368"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#5f6368"/>',
    ]
    for value in ticks:
        y = sy(value)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eceff1"/>')
        parts.append(f'<text class="y-tick" x="{LEFT - 6}" y="{y + 4:.1f}" font-size="12" text-anchor="end">'
                     f"{tick_label(value, ticks)}</text>")
    step = max(1, math.ceil((x_hi - x_lo) / 12))
    for x in range(math.ceil(x_lo), math.floor(x_hi) + 1, step):
        parts.append(f'<text class="x-tick" x="{sx(x):.1f}" y="{HEIGHT - BOTTOM + 18}" font-size="12" '
                     f'text-anchor="middle">{x}</text>')
    middle = (TOP + HEIGHT - BOTTOM) / 2
    parts.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 10}" font-size="13" text-anchor="middle">trial</text>'
        f'<text x="16" y="{middle}" font-size="13" text-anchor="middle" '
        f'transform="rotate(-90 16 {middle})">{escape(tag)} ({escape(goal.lower())})</text>'
    )
    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for _, x, y in plotted if y is not None)
    parts.append(f'<polyline points="{path}" fill="none" stroke="#aecbfa" stroke-width="1.5"/>')
    for trial, x, y in plotted:
        assert y is not None
        if is_best(trial, best):
            continue
        colour = "#1a73e8" if trial.get("state") in (None, "SUCCEEDED") else "#9aa0a6"
        # A trial stopped early is drawn hollow: its objective is an intermediate value.
        fill = "#fff" if trial.get("isTrialStoppedEarly") else colour
        note = " (stopped early)" if trial.get("isTrialStoppedEarly") else ""
        parts.append(
            f'<circle class="trial-point" data-trial-id="{escape(str(trial.get("trialId")))}" cx="{sx(x):.1f}" '
            f'cy="{sy(y):.1f}" r="5" fill="{fill}" stroke="{colour}" stroke-width="2">'
            f'<title>trial {escape(str(trial.get("trialId")))}: {fmt(y)}{note}</title></circle>'
        )
    if best is not None and any(is_best(t, best) for t, _, _ in plotted):
        bx, by = sx(trial_sort_key(best)[0]), sy(objective(best) or 0.0)
        label = f"best: trial {best.get('trialId')} = {fmt(objective(best) or 0.0)}"
        anchor = "end" if bx > WIDTH / 2 else "start"
        dx = -12 if anchor == "end" else 12
        label_y = by + 18 if by < TOP + 20 else by - 10
        parts.append(
            f'<circle class="trial-point best-trial" data-trial-id="{escape(str(best.get("trialId")))}" '
            f'cx="{bx:.1f}" cy="{by:.1f}" r="9" fill="#1e8e3e" stroke="#0b5327" stroke-width="2">'
            f"<title>{escape(label)}</title></circle>"
            f'<text id="best-label" x="{bx + dx:.1f}" y="{label_y:.1f}" font-size="13" font-weight="bold" '
            f'fill="#0b5327" text-anchor="{anchor}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
