"""Running operators and sensors outside a scheduler: a recording task instance and a task context.

Operators run through ``render_template_fields`` + ``execute`` against the session's real local service.
The task instance is the only stand-in: it records XCom pushes so tests can read what the task published.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

RUN_ID = "manual__2025-02-01T00:00:00+00:00"
RUN_AFTER = datetime(2025, 2, 1, tzinfo=UTC)


def dag_run(run_id: str = RUN_ID) -> SimpleNamespace:
    """The ``dag_run`` of an Airflow 3 run created by ``airflow dags trigger`` or the REST API: no logical date."""
    return SimpleNamespace(run_id=run_id, run_after=RUN_AFTER, logical_date=None, conf={})


class RecordingTI:
    """What operators and sensors use of the task instance: ``xcom_push``/``xcom_pull`` on an in-memory
    store, and the first reschedule date (None: the first poke)."""

    def __init__(self, store: dict[tuple[str, str], Any] | None = None, task_id: str = "task") -> None:
        self.store = store if store is not None else {}
        self.task_id = task_id
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value
        self.store[(self.task_id, key)] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
        return self.store.get((task_ids or self.task_id, key))

    def get_first_reschedule_date(self, context: Any) -> None:
        return None  # the first poke of the task instance


def make_context(op: Any, run_id: str = RUN_ID, store: dict[tuple[str, str], Any] | None = None
                 ) -> dict[str, Any]:
    ti = RecordingTI(store, op.task_id)
    return {"run_id": run_id, "ti": ti, "task_instance": ti, "params": op.params, "ds": "2025-02-01",
            "ds_nodash": "20250201", "dag": op.dag, "task": op, "dag_run": dag_run(run_id)}


def render_and_execute(op: Any, context: dict[str, Any]) -> Any:
    """What the task runner does for an operator: render its templated fields, then execute."""
    op.render_template_fields(context)
    return op.execute(context)
