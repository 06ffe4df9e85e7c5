"""Stage training packages to Cloud Storage exactly where ``gcloud ai-platform jobs submit training`` puts them.

Where each file goes is decided by :mod:`airflow_provider_trainjobs.staging_plan` (no network); this hook
uploads it. As in gcloud, the sha256 in the path is ONE digest over the contents of all the local files
uploaded together (in the order given), so unchanged code always lands on the same path and a second
staging uploads nothing; a content-addressed index (:func:`cache_object_name`) lets a new job id reuse it
by a server-side copy. Every argument is checked before the first byte is sent. ``google.cloud.storage``
is imported inside methods to keep DAG parsing cheap.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.hooks.base import DEFAULT_CONN_ID, TrainJobsBaseHook
from airflow_provider_trainjobs.hooks.gcs_check import check_gcs_packages
from airflow_provider_trainjobs.staging_plan import (
    MAX_PACKAGE_URIS,
    PACKAGE_SUFFIXES,
    LocalFile,
    StagingArgs,
    StagingError,
    StagingPlan,
    check_staging_args,
    digest_staging,
    is_object_name,
    plan_staging,
    split_packages,
    staging_prefix,
)

if TYPE_CHECKING:
    from google.cloud.storage import Blob, Client

# The planning names are re-exported: they lived here before airflow_provider_trainjobs.staging_plan.
__all__ = ["INDEX_SOURCE_KEY", "MAX_PACKAGE_URIS", "PACKAGE_SUFFIXES", "StagedObject", "StagingArgs", "StagingError", "StagingHook",
           "StagingPlan", "cache_object_name", "check_staging_args", "digest_staging", "plan_staging",
           "staging_prefix"]

INDEX_SOURCE_KEY = "trainjobs-source"  # metadata key of a content-addressed index entry: where the bytes are
_CONTENT_TYPES = {".tar.gz": "application/gzip", ".whl": "application/zip", ".zip": "application/zip"}
_CHUNK_ALIGNMENT = 256 * 1024


@dataclass(frozen=True)
class StagedObject:
    """One entry of ``packages`` after staging.

    ``size`` and ``sha256`` (of this file's bytes) are known for local files only; ``uploaded`` is False for a
    ``gs://`` entry passed through and for a local file whose identical copy was already in the bucket.
    """

    uri: str
    size: int | None
    sha256: str | None
    uploaded: bool
    source: str = ""


class StagingHook(TrainJobsBaseHook):
    """Uploads training packages to Cloud Storage (or the local emulator), skipping what is already there.

    ``chunk_size`` (a multiple of 256 KiB) sets the chunk of resumable uploads, used for files above the
    client's 8 MiB multipart limit. Transient errors (429, 5xx, resets) are retried by the client's default
    retry policy; content-addressed uploads are idempotent, so every upload is retried. ``gs://`` entries of
    ``packages`` are looked up (exist, readable) before anything is uploaded unless ``check_gcs_packages`` is
    False (then they are logged as not checked).
    """

    def __init__(self, gcp_conn_id: str = DEFAULT_CONN_ID, *, project_id: str | None = None,
                 chunk_size: int | None = None, impersonation_chain: str | Sequence[str] | None = None,
                 check_gcs_packages: bool = True) -> None:
        super().__init__(gcp_conn_id, project_id=project_id, impersonation_chain=impersonation_chain)
        if chunk_size is not None and (chunk_size <= 0 or chunk_size % _CHUNK_ALIGNMENT):
            raise StagingError(f"chunk_size: must be a positive multiple of 256 KiB, got {chunk_size}")
        self.chunk_size = chunk_size
        self.check_gcs_packages = check_gcs_packages
        self._client: Client | None = None

    def get_conn(self) -> Client:
        """The ``google.cloud.storage`` client for the connection's storage endpoint and credentials."""
        if self._client is None:
            from google.cloud import storage

            endpoint = self.settings.storage_endpoint
            self._client = storage.Client(
                # The project only matters for bucket listing/creation, which staging never does.
                project=self.settings.project_id or "<none>",
                credentials=self.get_credentials(),
                client_options={"api_endpoint": endpoint} if endpoint else None,
            )
        return self._client

    def stage_packages(self, packages: Sequence[str] | str, *, job_id: str | None = None,
                       staging_bucket: str | None = None, job_dir: str | None = None) -> list[StagedObject]:
        """Stage ``packages``: ``gs://`` entries first (unchanged), then each local file, uploaded if needed.

        All validation (see :func:`plan_staging`) happens before the first request, and a missing bucket is
        reported before any byte is uploaded. Raises StagingError for bad arguments, a missing bucket or a checksum mismatch.
        """
        return self.stage_plan(plan_staging(packages, job_id=job_id, staging_bucket=staging_bucket,
                                             job_dir=job_dir))

    def stage_training_packages(self, *, package_path: str | os.PathLike[str] | None,
                                packages: Sequence[str] | str | None, job_id: str | None,
                                staging_bucket: str | None, job_dir: str | None) -> list[StagedObject]:
        """Package and stage as ``gcloud ai-platform jobs submit training --package-path --packages`` does.

        In order: every argument is checked (:func:`check_staging_args`, no file read), the target bucket is
        looked up, ``package_path`` (if given) is built into a temporary dir, and then every local file is
        hashed once and uploaded unless already there. Returns the ``gs://`` entries of ``packages`` first,
        then its local files, then the built trainer. Raises ValueError when neither argument is given,
        StagingError / PackagingError naming the argument and the rule.
        """
        entries = split_packages(packages)
        if not package_path and not entries:
            raise ValueError("package_path/packages: give a trainer package dir, packages to stage, or both")
        args = check_staging_args(entries, package_path=package_path, job_id=job_id,
                                  staging_bucket=staging_bucket, job_dir=job_dir)
        if args.destination is not None:
            self._existing_bucket(self.get_conn(), args.destination[0])  # a missing bucket fails before the build
        self._check_passthrough(args.passthrough)  # so does a missing gs:// package
        if not package_path:
            return self._stage(digest_staging(args))
        from airflow_provider_trainjobs.packaging import build_training_package

        with tempfile.TemporaryDirectory(prefix="trainjobs-package-") as out_dir:
            built = build_training_package(package_path, out_dir)
            self.log.info("built %s from %s: %d bytes, sha256 %s%s", built.path.name, package_path, built.size,
                          built.sha256, " (with a generated setup.py)" if built.generated_setup else "")
            # Re-checked with the built file: its name is only known now when the project has its own setup.py.
            final = check_staging_args([*entries, str(built.path)], job_id=job_id, staging_bucket=staging_bucket,
                                       job_dir=job_dir)
            known = {built.path: LocalFile(built.path, built.size, built.sha256, built.crc32c_b64)}
            return self._stage(digest_staging(final, known if built.crc32c_b64 else None))

    def stage_plan(self, plan: StagingPlan) -> list[StagedObject]:
        """Upload what ``plan`` (from :func:`plan_staging`) says, skipping objects already there unchanged.

        Each upload is checked against the checksum taken when the plan was made; on a mismatch (the file
        changed since, or the bytes were corrupted) the object is deleted again and StagingError is raised, so
        no wrong bytes stay at a content-addressed path. ``gs://`` entries are checked first (see
        :func:`~airflow_provider_trainjobs.hooks.gcs_check.check_gcs_packages`).
        """
        self._check_passthrough(plan.passthrough)
        return self._stage(plan)

    def _check_passthrough(self, uris: Sequence[str]) -> None:
        if not uris:
            return
        if not self.check_gcs_packages:
            for uri in uris:
                self.log.info("%s passed through, not checked (check_gcs_packages=False)", uri)
            return
        check_gcs_packages(self.get_conn(), uris, endpoint=self.settings.storage_endpoint, log=self.log)

    def _stage(self, plan: StagingPlan) -> list[StagedObject]:
        """Stage the plan's local files; its ``gs://`` entries were checked already.

        A missing bucket is found by the first request that needs it (nothing is uploaded to a bucket that does
        not exist) and reported as StagingError; no separate bucket lookup is paid on the way to an upload.
        """
        from google.api_core.exceptions import NotFound

        staged = [StagedObject(uri, None, None, False, uri) for uri in plan.passthrough]
        client = self.get_conn()
        for local, bucket_name, object_name in plan.uploads:
            try:
                staged.append(self._stage_file(client.bucket(bucket_name), local, object_name))
            except NotFound:
                try:
                    self._existing_bucket(client, bucket_name)
                except StagingError as missing:  # it is the bucket that is missing: say that, not a 404 trace
                    raise missing from None
                raise
        return staged

    def _stage_file(self, bucket: Any, local: LocalFile, object_name: str) -> StagedObject:
        """One file, with as few requests as the case allows (see :func:`cache_object_name` for the index).

        Not indexed → upload it, then index it (2 requests more than a plain upload: the index lookup and the
        index write). Indexed → it is already at its path (skipped), or copied there server-side from the
        object the index names (0 bytes sent); a copy whose source is gone or holds other bytes falls back to
        an upload.
        """
        from google.api_core.exceptions import NotFound
        from google.cloud.storage.retry import DEFAULT_RETRY

        uri = f"gs://{bucket.name}/{object_name}"
        index_name = cache_object_name(object_name, local)
        source = _indexed_source(bucket.get_blob(index_name, retry=DEFAULT_RETRY), local)
        if source is not None:
            existing = bucket.get_blob(object_name, retry=DEFAULT_RETRY)
            if existing is not None and _same_content(existing, local):
                self.log.info("%s already staged at %s (%d bytes): upload skipped", local.path.name, uri, local.size)
                return StagedObject(uri, local.size, local.sha256, False, str(local.path))
            if source != object_name:
                try:
                    copied = bucket.copy_blob(bucket.blob(source), bucket, object_name, retry=DEFAULT_RETRY)
                except NotFound:
                    copied = None  # the indexed object was deleted since (a lifecycle rule, say)
                if copied is not None and _same_content(copied, local):
                    self.log.info("%s already staged at gs://%s/%s: copied server-side to %s (0 bytes uploaded)",
                                  local.path.name, bucket.name, source, uri)
                    return StagedObject(uri, local.size, local.sha256, False, str(local.path))
        self._upload(bucket, local, object_name, uri)
        self.log.info("uploaded %s to %s (%d bytes)", local.path.name, uri, local.size)
        if source != object_name:
            self._write_index(bucket, index_name, object_name)
        return StagedObject(uri, local.size, local.sha256, True, str(local.path))

    def _upload(self, bucket: Any, local: LocalFile, object_name: str, uri: str) -> None:
        """One upload, checked against the CRC32C the server reports (no client-side checksum pass)."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = bucket.blob(object_name, chunk_size=self.chunk_size)
        suffix = next(s for s in PACKAGE_SUFFIXES if local.path.name.endswith(s))
        blob.upload_from_filename(str(local.path), content_type=_CONTENT_TYPES[suffix], checksum=None,
                                  retry=DEFAULT_RETRY)
        self._verify(blob, local, uri)

    def _verify(self, blob: Blob, local: LocalFile, uri: str) -> None:
        """StagingError (after deleting the object) unless ``blob`` holds exactly the planned bytes."""
        if not _same_content(blob, local):
            self._delete_quietly(blob)
            raise StagingError(
                f"packages: {uri} does not match {local.path} after upload "
                f"(crc32c {blob.crc32c!r} != {local.crc32c_b64!r}); the file changed or the upload was corrupted"
            )

    def _write_index(self, bucket: Any, index_name: str, object_name: str) -> None:
        """Point the content-addressed index entry at a fresh upload; a failure only costs reuse later."""
        from google.api_core.exceptions import GoogleAPIError
        from google.cloud.storage.retry import DEFAULT_RETRY

        index = bucket.blob(index_name)
        index.metadata = {INDEX_SOURCE_KEY: object_name}
        try:
            index.upload_from_string(b"", content_type="text/plain", retry=DEFAULT_RETRY)
        except GoogleAPIError as err:
            self.log.warning("could not index gs://%s/%s for reuse by later jobs: %s", bucket.name, index_name, err)

    def stage_package_uris(self, packages: Sequence[str] | str, *, job_id: str | None = None,
                           staging_bucket: str | None = None, job_dir: str | None = None) -> list[str]:
        """Like :meth:`stage_packages`, returning only the ``gs://`` URIs in job order (``packageUris``)."""
        return [s.uri for s in self.stage_packages(packages, job_id=job_id, staging_bucket=staging_bucket,
                                                   job_dir=job_dir)]

    def _delete_quietly(self, blob: Blob) -> None:
        """Delete an object that must not stay; already gone is fine."""
        from google.api_core.exceptions import NotFound
        from google.cloud.storage.retry import DEFAULT_RETRY

        try:
            blob.delete(retry=DEFAULT_RETRY)
        except NotFound:
            pass
        self.log.warning("deleted %s: its content does not match the planned checksum", blob.name)

    @staticmethod
    def _existing_bucket(client: Client, name: str) -> Any:
        """The bucket, or StagingError if it does not exist (staging never creates buckets)."""
        from google.api_core.exceptions import Forbidden

        try:
            bucket = client.lookup_bucket(name)
        except Forbidden:
            # Allowed to write objects but not to read bucket metadata: let the upload itself decide.
            return client.bucket(name)
        if bucket is None:
            raise StagingError(f"bucket {name!r} does not exist; create it first (staging never creates buckets)")
        return bucket


def cache_object_name(object_name: str, local: LocalFile) -> str:
    """The content-addressed index entry of a staged file, found again with one GET by a later job.

    ``<prefix>/_by_sha256/<sha256 of the file>/<file>`` where ``<prefix>`` is the staging bucket's prefix (for
    ``<prefix>/<jobId>/<sha256>/<file>``) or the job dir (for ``<jobDir>/packages/<sha256>/<file>``). It is an
    empty object whose ``trainjobs-source`` metadata names the object holding the bytes (writing it costs one
    small request, not a copy of the package); an entry written by earlier versions holds the bytes itself.
    """
    base = object_name.split("/")[:-3]
    return "/".join([*base, "_by_sha256", local.sha256, local.path.name])


def _indexed_source(index: Blob | None, local: LocalFile) -> str | None:
    """The object name an index entry says holds ``local``'s bytes, or None (no entry, or an unusable one)."""
    if index is None:
        return None
    source = (index.metadata or {}).get(INDEX_SOURCE_KEY)
    if isinstance(source, str) and source and is_object_name(source):
        return source  # checked again after the copy: a stale or forged entry only costs an upload
    return str(index.name) if _same_content(index, local) else None


def _same_content(blob: Blob, local: LocalFile) -> bool:
    """True when the object's size and CRC32C (or MD5, from a server that reports no CRC32C) match the file."""
    if blob.size is not None and int(blob.size) != local.size:
        return False
    if blob.crc32c:
        return bool(blob.crc32c == local.crc32c_b64)
    if blob.md5_hash:
        return bool(blob.md5_hash == _md5_b64(local.path))
    return False


def _md5_b64(path: Path) -> str:
    with open(path, "rb") as f:
        return base64.b64encode(hashlib.file_digest(f, "md5").digest()).decode("ascii")
