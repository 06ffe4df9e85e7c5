"""The one error bad job input raises: it names the field and the rule."""

from __future__ import annotations

__all__ = ["InvalidJobSpec"]


class InvalidJobSpec(ValueError):
    """A training job spec breaks a rule; ``field`` is the JSON path of the first offending field.

    ``problems`` holds every (field, rule) found, so one failed run reports all of them at once.
    """

    def __init__(self, field: str, rule: str, problems: list[tuple[str, str]] | None = None) -> None:
        self.field = field
        self.rule = rule
        self.problems = problems or [(field, rule)]
        message = f"invalid training job: {field}: {rule}"
        others = [f"{f}: {r}" for f, r in self.problems if (f, r) != (field, rule)]
        if others:
            message += f" (and {len(others)} more: " + "; ".join(others) + ")"
        super().__init__(message)
