"""Stage training packages to Cloud Storage exactly where ``gcloud ai-platform jobs submit training`` puts them.

Local files go to ``gs://STAGING[/prefix]/<jobId>/<sha256>/<file>`` (with a staging bucket) or
``<jobDir>/packages/<sha256>/<file>``; ``gs://`` entries pass through first. As in gcloud, the sha256 is ONE
digest over the contents of all the local files uploaded together (in the order given), so unchanged code
always lands on the same path and a second staging uploads nothing. Every argument is checked before the
first byte is sent. ``google.cloud.storage`` is imported inside methods to keep DAG parsing cheap.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.hooks.base import DEFAULT_CONN_ID, TrainJobsBaseHook
from airflow_provider_trainjobs.naming import is_valid_job_id

if TYPE_CHECKING:
    from google.cloud.storage import Blob, Client

__all__ = ["MAX_PACKAGE_URIS", "PACKAGE_SUFFIXES", "StagedObject", "StagingArgs", "StagingError", "StagingHook",
           "StagingPlan", "check_staging_args", "digest_staging", "plan_staging", "staging_prefix"]

MAX_PACKAGE_URIS = 100
PACKAGE_SUFFIXES = (".tar.gz", ".whl", ".zip")
_CONTENT_TYPES = {".tar.gz": "application/gzip", ".whl": "application/zip", ".zip": "application/zip"}
_CHUNK_ALIGNMENT = 256 * 1024
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
_IPV4_RE = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


class StagingError(ValueError):
    """Packages cannot be staged as given; the message names the argument and the rule."""


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


@dataclass(frozen=True)
class _LocalFile:
    path: Path
    size: int
    sha256: str
    md5_b64: str


@dataclass(frozen=True)
class StagingArgs:
    """Checked ``packages`` and destination, before any file is read: what :func:`check_staging_args` returns.

    ``destination`` is the (bucket, object prefix) local files go under; None when nothing local is staged.
    """

    passthrough: tuple[str, ...]
    local: tuple[Path, ...]
    destination: tuple[str, str] | None


@dataclass(frozen=True)
class StagingPlan:
    """Where each entry goes, decided without any network I/O: pass-through URIs, then local uploads."""

    passthrough: tuple[str, ...]
    uploads: tuple[tuple[_LocalFile, str, str], ...]  # (file, bucket, object name)
    digest: str | None  # the sha256 in the path of every upload


def _check_bucket_name(name: str, what: str, uri: str) -> None:
    components = name.split(".")
    ok = (
        3 <= len(name) <= 222
        and _BUCKET_RE.fullmatch(name) is not None
        and all(0 < len(c) <= 63 for c in components)
        and (len(name) <= 63 or len(components) > 1)
        and not name.startswith("goog")
        and _IPV4_RE.fullmatch(name) is None
    )
    if not ok:
        raise StagingError(
            f"{what}: {uri!r}: bucket {name!r} is not a valid bucket name (3-63 characters of lowercase letters, digits, '-', '_'"
            " and '.', starting and ending with a letter or digit, not starting with 'goog', not an IP address)"
        )


def _split_gs(uri: str, what: str, *, object_required: bool) -> tuple[str, str]:
    """``gs://bucket/object`` → (bucket, object); raises StagingError naming ``what`` on a malformed URI."""
    if not uri.startswith("gs://"):
        raise StagingError(f"{what}: {uri!r} is not a gs:// URI (expected gs://BUCKET/OBJECT)")
    bucket, _, name = uri[len("gs://"):].partition("/")
    _check_bucket_name(bucket, what, uri)
    name = name.strip("/") if not object_required else name
    if object_required and (not name or name.endswith("/")):
        raise StagingError(f"{what}: {uri!r} must name an object (expected gs://BUCKET/OBJECT)")
    if len(name.encode("utf-8")) > 1024 or any(c in name for c in "\r\n"):
        raise StagingError(f"{what}: {uri!r} has an invalid object name (at most 1024 bytes, no newlines)")
    return bucket, name


def _clean(value: str | None) -> str | None:
    """Strip surrounding whitespace (a templated `` gs://b`` is ``gs://b``); empty means not given."""
    if value is None:
        return None
    return str(value).strip() or None


def staging_prefix(*, job_id: str | None, staging_bucket: str | None, job_dir: str | None) -> tuple[str, str]:
    """The (bucket, object prefix) local packages go under, before the ``<sha256>/<file>`` part.

    With ``staging_bucket`` (``gs://bucket``, ``gs://bucket/prefix`` or a bare bucket name) the prefix ends in
    the job id, which is then required; otherwise ``<job_dir>/packages``. Neither given raises StagingError.
    Surrounding whitespace in any of the three is ignored.
    """
    job_id, staging_bucket, job_dir = _clean(job_id), _clean(staging_bucket), _clean(job_dir)
    if staging_bucket:
        uri = staging_bucket if staging_bucket.startswith("gs://") else f"gs://{staging_bucket}"
        bucket, prefix = _split_gs(uri, "staging_bucket", object_required=False)
        if not job_id:
            raise StagingError("job_id: required to stage under a staging bucket (gs://STAGING/<jobId>/...)")
        if not is_valid_job_id(job_id):
            raise StagingError(
                f"job_id: {job_id!r} must be letters, digits and underscores, start with a letter, "
                "and be at most 128 characters"
            )
        return bucket, "/".join(p for p in (prefix, job_id) if p)
    if job_dir:
        bucket, prefix = _split_gs(job_dir, "job_dir", object_required=False)
        return bucket, "/".join(p for p in (prefix, "packages") if p)
    raise StagingError(
        "staging_bucket/job_dir: a staging bucket or job dir is required to upload local packages"
    )


def _hash_file(path: Path, combined: Any) -> _LocalFile:
    """One read of the file: its own sha256 and md5, and its bytes fed to the ``combined`` path digest."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            combined.update(block)
            sha.update(block)
            md5.update(block)
            size += len(block)
    return _LocalFile(path, size, sha.hexdigest(), base64.b64encode(md5.digest()).decode("ascii"))


def _split_packages(packages: Sequence[str] | str | None) -> list[Any]:
    """``packages`` as a list; a string is split on commas, like gcloud's ``--packages`` flag."""
    if packages is None:
        return []
    if isinstance(packages, str):
        return [e for e in (p.strip() for p in packages.split(",")) if e]
    return list(packages)


def check_staging_args(packages: Sequence[str] | str | None, *, package_path: str | os.PathLike[str] | None = None,
                       job_id: str | None = None, staging_bucket: str | None = None,
                       job_dir: str | None = None) -> StagingArgs:
    """Every staging check that needs neither the network nor a read of the files' bytes.

    ``package_path``, when given, is the trainer still to be built: it counts as one more URI toward the
    limit of 100, needs a destination, must be a package dir (see
    :func:`~airflow_provider_trainjobs.packaging.check_package_path`), and its tarball name, when
    knowable before the build (generated ``setup.py``), must not clash with a local file of ``packages``.
    Raises StagingError (or PackagingError for ``package_path``) naming the argument and the rule.
    """
    entries = _split_packages(packages)
    total = len(entries) + (1 if package_path else 0)
    if total > MAX_PACKAGE_URIS:
        extra = " (counting the built trainer package)" if package_path else ""
        raise StagingError(f"packages: at most {MAX_PACKAGE_URIS} package URIs are allowed, got {total}{extra}")
    passthrough: list[str] = []
    local: list[Path] = []
    for index, entry in enumerate(entries):
        what = f"packages[{index}]"
        if not isinstance(entry, str | Path) or not str(entry).strip():
            raise StagingError(f"{what}: must be a non-empty path or gs:// URI, got {entry!r}")
        text = str(entry).strip()
        if "://" in text:
            _split_gs(text, what, object_required=True)
            passthrough.append(text)
            continue
        path = Path(text).expanduser()
        if not path.is_file():
            raise StagingError(f"{what}: local file {text!r} does not exist or is not a file")
        if not path.name.endswith(PACKAGE_SUFFIXES):
            raise StagingError(
                f"{what}: {text!r} is not a Python package file (expected one of {', '.join(PACKAGE_SUFFIXES)})"
            )
        local.append(path)
    names = [p.name for p in local]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise StagingError(f"packages: two local files share the name {duplicates[0]!r}; basenames must be unique")
    destination = None
    if local or package_path:
        destination = staging_prefix(job_id=job_id, staging_bucket=staging_bucket, job_dir=job_dir)
    if package_path:
        from airflow_provider_trainjobs.packaging import check_package_path

        built_name = check_package_path(package_path).tarball_name
        if built_name is not None and built_name in names:
            raise StagingError(
                f"packages: {built_name!r} is also the name of the package built from package_path; "
                "basenames must be unique"
            )
    return StagingArgs(tuple(passthrough), tuple(local), destination)


def digest_staging(args: StagingArgs) -> StagingPlan:
    """Read the local files once: their checksums and the one sha256 that goes into every upload's path."""
    if not args.local:
        return StagingPlan(args.passthrough, (), None)
    assert args.destination is not None  # check_staging_args sets it whenever there are local files
    bucket, prefix = args.destination
    combined = hashlib.sha256()
    files = [_hash_file(p, combined) for p in args.local]
    digest = combined.hexdigest()
    uploads = tuple((f, bucket, "/".join(p for p in (prefix, digest, f.path.name) if p)) for f in files)
    return StagingPlan(args.passthrough, uploads, digest)


def plan_staging(packages: Sequence[str] | str, *, job_id: str | None = None, staging_bucket: str | None = None,
                 job_dir: str | None = None) -> StagingPlan:
    """Validate ``packages`` and the destination and decide every target URI, without touching the network.

    ``packages`` mixes local files and ``gs://`` URIs (a string is split on commas, like gcloud's flag).
    Raises StagingError for more than 100 entries, a malformed ``gs://`` URI, a missing local file, a file
    that is not ``.tar.gz``/``.whl``/``.zip``, two local files with the same name, or no destination.
    This is :func:`check_staging_args` followed by :func:`digest_staging` (which reads every local file).
    """
    return digest_staging(check_staging_args(packages, job_id=job_id, staging_bucket=staging_bucket,
                                             job_dir=job_dir))


class StagingHook(TrainJobsBaseHook):
    """Uploads training packages to Cloud Storage (or the local emulator), skipping what is already there.

    ``chunk_size`` (a multiple of 256 KiB) sets the chunk of resumable uploads, used for files above the
    client's 8 MiB multipart limit. Transient errors (429, 5xx, resets) are retried by the client's default
    retry policy; content-addressed uploads are idempotent, so every upload is retried.
    """

    def __init__(self, gcp_conn_id: str = DEFAULT_CONN_ID, *, project_id: str | None = None,
                 chunk_size: int | None = None) -> None:
        super().__init__(gcp_conn_id, project_id=project_id)
        if chunk_size is not None and (chunk_size <= 0 or chunk_size % _CHUNK_ALIGNMENT):
            raise StagingError(f"chunk_size: must be a positive multiple of 256 KiB, got {chunk_size}")
        self.chunk_size = chunk_size
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

        All validation (see :func:`plan_staging`) and a check that the target bucket exists happen before the
        first upload. Raises StagingError for bad arguments, a missing bucket or a checksum mismatch.
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
        entries = [str(e).strip() if isinstance(e, str | Path) else e for e in _split_packages(packages)]
        if not package_path and not entries:
            raise ValueError("package_path/packages: give a trainer package dir, packages to stage, or both")
        args = check_staging_args(entries, package_path=package_path, job_id=job_id,
                                  staging_bucket=staging_bucket, job_dir=job_dir)
        if args.destination is not None:
            self._existing_bucket(self.get_conn(), args.destination[0])  # a missing bucket fails before the build
        if not package_path:
            return self.stage_plan(digest_staging(args))
        from airflow_provider_trainjobs.packaging import build_training_package

        with tempfile.TemporaryDirectory(prefix="trainjobs-package-") as out_dir:
            built = build_training_package(package_path, out_dir)
            self.log.info("built %s from %s: %d bytes, sha256 %s%s", built.path.name, package_path, built.size,
                          built.sha256, " (with a generated setup.py)" if built.generated_setup else "")
            # Re-checked with the built file: its name is only known now when the project has its own setup.py.
            final = check_staging_args([*entries, str(built.path)], job_id=job_id, staging_bucket=staging_bucket,
                                       job_dir=job_dir)
            return self.stage_plan(digest_staging(final))

    def stage_plan(self, plan: StagingPlan) -> list[StagedObject]:
        """Upload what ``plan`` (from :func:`plan_staging`) says, skipping objects already there unchanged.

        Each upload is checked against the checksum taken when the plan was made; on a mismatch (the file
        changed since, or the bytes were corrupted) the object is deleted again and StagingError is raised, so
        no wrong bytes stay at a content-addressed path.
        """
        staged = [StagedObject(uri, None, None, False, uri) for uri in plan.passthrough]
        for uri in plan.passthrough:
            self.log.info("%s is already in Cloud Storage: passed through", uri)
        if not plan.uploads:
            return staged
        from google.cloud.storage.retry import DEFAULT_RETRY

        client = self.get_conn()
        buckets = {name: self._existing_bucket(client, name) for name in {b for _, b, _ in plan.uploads}}
        for local, bucket_name, object_name in plan.uploads:
            uri = f"gs://{bucket_name}/{object_name}"
            bucket = buckets[bucket_name]
            existing = bucket.get_blob(object_name, retry=DEFAULT_RETRY)
            if existing is not None and _same_content(existing, local):
                self.log.info("%s already staged at %s (%d bytes): upload skipped", local.path.name, uri, local.size)
                staged.append(StagedObject(uri, local.size, local.sha256, False, str(local.path)))
                continue
            blob = bucket.blob(object_name, chunk_size=self.chunk_size)
            suffix = next(s for s in PACKAGE_SUFFIXES if local.path.name.endswith(s))
            blob.upload_from_filename(str(local.path), content_type=_CONTENT_TYPES[suffix], checksum="md5",
                                      retry=DEFAULT_RETRY)
            if not _same_content(blob, local):
                self._delete_quietly(blob)
                raise StagingError(
                    f"packages: {uri} does not match {local.path} after upload "
                    f"(md5 {blob.md5_hash!r} != {local.md5_b64!r}); the file changed or the upload was corrupted"
                )
            self.log.info("uploaded %s to %s (%d bytes)", local.path.name, uri, local.size)
            staged.append(StagedObject(uri, local.size, local.sha256, True, str(local.path)))
        return staged

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


def _same_content(blob: Blob, local: _LocalFile) -> bool:
    """True when the object's size and md5 (or crc32c, for composite objects) match the local file."""
    if blob.size is not None and int(blob.size) != local.size:
        return False
    if blob.md5_hash:
        return bool(blob.md5_hash == local.md5_b64)
    if blob.crc32c:
        return bool(blob.crc32c == _crc32c_b64(local.path))
    return False


def _crc32c_b64(path: Path) -> str:
    import google_crc32c

    checksum = google_crc32c.Checksum()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            checksum.update(block)
    return base64.b64encode(checksum.digest()).decode("ascii")
