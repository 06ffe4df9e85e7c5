"""docs/architecture.md's "where is behaviour X" table names places that exist: every ``module:function`` in
it resolves (a function, a class or a method)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "architecture.md").read_text()
TABLE = PAGE.split("## Where is behaviour X", 1)[1].split("\n## ", 1)[0]
PLACES = sorted(set(re.findall(r"`([a-z_/]+):([A-Za-z_][\w.]*)`", TABLE)))


def test_the_table_covers_the_behaviours_the_issue_names() -> None:
    for behaviour in ("job-id derivation", "resubmit on retry", "idempotent create", "deadlines (client)",
                      "deadlines (service)", "log tailing", "best trial", "packaging rules", "staging paths"):
        assert f"| {behaviour} |" in TABLE


@pytest.mark.parametrize(("module", "name"), PLACES, ids=[f"{m}:{n}" for m, n in PLACES])
def test_every_place_in_the_table_exists(module: str, name: str) -> None:
    target = importlib.import_module("airflow_provider_trainjobs." + module.replace("/", "."))
    for part in name.split("."):
        target = getattr(target, part)

