"""The ``/gcs/BUCKET/...`` view Vertex AI gives trainers (seed 002), as a per-job directory.

Vertex mounts Cloud Storage at ``/gcs`` with Cloud Storage FUSE. The local service cannot mount anything,
so it mirrors the buckets a Vertex job names (output directory, package URIs, ``gs://`` values in args and
env) into ``<data-dir>/work/<project>/<jobId>/gcs/<bucket>/...`` before the trainers start, exports that
directory as ``TRAINJOBS_GCS_ROOT``, and after the job ends uploads every file that is new or changed under
it back to the emulator. Reads see the buckets as they were when the job started; writes reach Cloud
Storage when the job ends, not while it runs. Big buckets are cut off at ``MAX_OBJECTS`` / ``MAX_BYTES``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.local.paths import OutsideRoot, confined

MAX_OBJECTS = 2000
MAX_BYTES = 256 * 1024 * 1024


class GcsView:
    """One job's mirror of the buckets it names."""

    def __init__(self, root: Path, storage_endpoint: str, project: str, buckets: list[str],
                 log: Callable[[str, str], None]) -> None:
        self.root = root
        self.storage_endpoint = storage_endpoint
        self.project = project
        self.buckets = buckets
        self.log = log
        self._seen: dict[str, tuple[int, int]] = {}

    def _client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project=self.project, credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                              client_options={"api_endpoint": self.storage_endpoint})

    def _snapshot(self) -> dict[str, tuple[int, int]]:
        files: dict[str, tuple[int, int]] = {}
        base = self.root.resolve()
        for path in self.root.rglob("*"):
            # Only regular files inside the view: a symlink (or a file under a symlinked directory) could
            # point anywhere on the machine.
            if path.is_file() and not path.is_symlink() and path.resolve().is_relative_to(base):
                stat = path.stat()
                files[path.relative_to(self.root).as_posix()] = (stat.st_size, stat.st_mtime_ns)
        return files

    def pull(self) -> None:
        """Download the named buckets (as they are now) under ``root``."""
        client = self._client()
        count = size = 0
        for bucket in self.buckets:
            (self.root / bucket).mkdir(parents=True, exist_ok=True)
            if client.lookup_bucket(bucket) is None:
                self.log("WARNING", f"/gcs view: bucket {bucket} does not exist; {self.root / bucket} starts empty"
                         " and what is written there is not uploaded.")
                continue
            for blob in client.list_blobs(bucket):
                if blob.name.endswith("/"):
                    continue
                if count >= MAX_OBJECTS or size + (blob.size or 0) > MAX_BYTES:
                    self.log("WARNING", f"/gcs view: stopped mirroring at {count} objects / {size} bytes"
                             f" (limits {MAX_OBJECTS} objects, {MAX_BYTES} bytes); read the rest with the"
                             " Cloud Storage client.")
                    self._seen = self._snapshot()
                    return
                try:  # an object named "/etc/x" or "a/../../x" is never written outside the view
                    target = confined(self.root / bucket, blob.name)
                except OutsideRoot as err:
                    self.log("WARNING", f"/gcs view: gs://{bucket}/{blob.name[:200]} is not mirrored: {err}")
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                blob.download_to_filename(str(target))
                count += 1
                size += blob.size or 0
        self._seen = self._snapshot()
        self.log("INFO", f"/gcs view: {count} objects of {', '.join(self.buckets)} mirrored under {self.root}"
                 " (TRAINJOBS_GCS_ROOT).")

    def push(self) -> int:
        """Upload files written or changed under ``root`` since ``pull``; returns how many."""
        if not self.root.is_dir():
            return 0
        changed = [rel for rel, mark in self._snapshot().items() if self._seen.get(rel) != mark]
        if not changed:
            return 0
        client = self._client()
        uploaded = 0
        exists: dict[str, bool] = {}
        for rel in sorted(changed):
            bucket, _, name = rel.partition("/")
            if bucket not in exists:
                exists[bucket] = client.lookup_bucket(bucket) is not None
            if not name or not exists[bucket]:
                self.log("WARNING", f"/gcs view: {rel} is not uploaded: bucket {bucket} does not exist.")
                continue
            client.bucket(bucket).blob(name).upload_from_filename(os.fspath(self.root / rel))
            uploaded += 1
        self._seen = self._snapshot()
        self.log("INFO", f"/gcs view: uploaded {uploaded} new or changed files to Cloud Storage.")
        return uploaded
