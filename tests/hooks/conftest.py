"""Fixtures of the hook tests that talk to the storage emulator."""

from __future__ import annotations

import pytest
from google.cloud import storage
from support.gcs_objects import new_bucket


@pytest.fixture
def bucket(storage_conn: dict[str, str]) -> storage.Bucket:
    """A fresh, empty bucket in the emulator the default connection points at."""
    return new_bucket(storage_conn["storage_endpoint"], "hooks")
