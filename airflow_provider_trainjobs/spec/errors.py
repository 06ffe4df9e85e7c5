"""The one error bad job input raises: it names the field and the rule."""

from __future__ import annotations

__all__ = ["InvalidJobSpec"]

_LISTED = 20  # further problems named in the message; ``problems`` keeps them all


class InvalidJobSpec(ValueError):
    """A training job spec breaks a rule; ``field`` is the JSON path of the first offending field.

    ``problems`` holds every (field, rule) found, so one failed run reports all of them at once (the message
    lists the first 20 after the first one).
    """

    def __init__(self, field: str, rule: str, problems: list[tuple[str, str]] | None = None) -> None:
        self.field = field
        self.rule = rule
        self.problems = problems or [(field, rule)]
        message = f"invalid training job: {field}: {rule}"
        others = [(f, r) for f, r in self.problems if (f, r) != (field, rule)]
        if others:
            listed = "; ".join(f"{f}: {r}" for f, r in others[:_LISTED])
            unlisted = f"; ... {len(others) - _LISTED} not shown" if len(others) > _LISTED else ""
            message += f" (and {len(others)} more: {listed}{unlisted})"
        super().__init__(message)
