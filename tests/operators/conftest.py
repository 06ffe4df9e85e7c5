"""Fixtures for the job operator tests: buckets on the session's local service and unique dag ids.

The ``backend`` parametrisation and the trainer come from tests/conftest.py and the ``support`` package.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from google.cloud import storage
from support import storage_client


@pytest.fixture
def new_bucket(local_service: Any) -> Callable[[], storage.Bucket]:
    """Creates uniquely named buckets in the local service's storage emulator."""
    client = storage_client(local_service.storage_endpoint)

    def create() -> storage.Bucket:
        return client.create_bucket(f"ops-{uuid.uuid4().hex[:12]}")

    return create


@pytest.fixture
def unique_dag_id() -> str:
    """A dag id no other test uses, so default job ids never collide across tests."""
    return f"ops_{uuid.uuid4().hex[:10]}"
