"""Put objects at given gs:// URIs in a storage emulator, so tests that pass gs:// packages name real ones."""

from __future__ import annotations

import uuid

from google.api_core.exceptions import Conflict
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage


def put_gs_objects(endpoint: str, *uris: str, data: bytes = b"package bytes") -> None:
    """Create each URI's bucket (if missing) and object in the emulator at ``endpoint``."""
    client = storage.Client(project="local-project", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": endpoint})
    for uri in uris:
        bucket_name, _, name = uri.removeprefix("gs://").partition("/")
        try:
            client.create_bucket(bucket_name)
        except Conflict:
            pass
        client.bucket(bucket_name).blob(name).upload_from_string(data)


def new_bucket(endpoint: str, prefix: str) -> storage.Bucket:
    """A fresh, empty bucket named ``<prefix>-<random>`` in the emulator at ``endpoint``."""
    client = storage.Client(project="local-project", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": endpoint})
    return client.create_bucket(f"{prefix}-{uuid.uuid4().hex[:12]}")
