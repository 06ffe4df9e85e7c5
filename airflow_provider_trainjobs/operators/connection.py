"""ConnectionArgsOperator: the five connection arguments the training-job operators and the sensor take, once.

It is a BaseOperator (not a plain mixin) so that a DAG's ``default_args`` fill these arguments too: Airflow
applies default_args only to the parameters a BaseOperator subclass's own ``__init__`` declares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_trainjobs.hooks.base import DEFAULT_CONN_ID, connection_kwargs

if TYPE_CHECKING:
    from airflow_provider_trainjobs.hooks.training import TrainingJobHook

__all__ = ["ConnectionArgsOperator"]


class ConnectionArgsOperator(BaseOperator):
    """Declares and stores ``gcp_conn_id``, ``project_id``, ``backend``, ``region`` and ``impersonation_chain``.

    :param gcp_conn_id: the connection; ``project_id``, ``backend``, ``region``: None uses the connection's.
    :param impersonation_chain: a service account to impersonate, or a chain whose last entry is the target.
    """

    template_fields: Sequence[str] = ("project_id", "gcp_conn_id", "backend", "region", "impersonation_chain")

    def __init__(
        self,
        *,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        project_id: str | None = None,
        backend: str | None = None,
        region: str | None = None,
        impersonation_chain: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gcp_conn_id = gcp_conn_id
        self.project_id = project_id
        self.backend = backend
        self.region = region
        self.impersonation_chain = impersonation_chain

    def connection_kwargs(self) -> dict[str, Any]:
        """The five connection arguments as keyword arguments (for a hook or a trigger)."""
        return connection_kwargs(self)

    def training_hook(self, **extra: Any) -> TrainingJobHook:
        """A new TrainingJobHook for this task's connection arguments (imported here: DAG parse stays cheap)."""
        from airflow_provider_trainjobs.hooks.training import TrainingJobHook

        return TrainingJobHook(**self.connection_kwargs(), **extra)
