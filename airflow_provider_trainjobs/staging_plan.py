"""Where ``gcloud ai-platform jobs submit training`` stages packages, decided without any network I/O.

The pure half of staging: the packages splitter, the checks of ``packages``/``staging_bucket``/``job_dir``,
Cloud Storage bucket-name rules and the content digest that goes into every upload's path
(``gs://STAGING[/prefix]/<jobId>/<sha256>/<file>`` or ``<jobDir>/packages/<sha256>/<file>``). Operators use
it to plan URIs at validation time; :class:`~airflow_provider_trainjobs.hooks.staging.StagingHook` uploads
what it plans. No Google library is imported here.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.naming import is_valid_job_id
from airflow_provider_trainjobs.spec.rules import MAX_PACKAGE_URIS

__all__ = ["MAX_PACKAGE_URIS", "PACKAGE_SUFFIXES", "Digests", "LocalFile", "StagingArgs", "StagingError", "StagingPlan",
           "check_bucket_name", "check_staging_args", "digest_staging", "hash_file", "is_object_name", "plan_staging",
           "split_gs", "split_packages", "staging_prefix"]

PACKAGE_SUFFIXES = (".tar.gz", ".whl", ".zip")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
_IPV4_RE = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


class StagingError(ValueError):
    """Packages cannot be staged as given; the message names the argument and the rule."""


@dataclass(frozen=True)
class LocalFile:
    """A local file to stage: its size, hex sha256 (for the path) and base64 CRC32C (what the upload is checked
    against; Cloud Storage reports it for every object, and it costs a tenth of an MD5 to compute)."""

    path: Path
    size: int
    sha256: str
    crc32c_b64: str


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
    uploads: tuple[tuple[LocalFile, str, str], ...]  # (file, bucket, object name)
    digest: str | None  # the sha256 in the path of every upload


def check_bucket_name(name: str, what: str, uri: str) -> None:
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


def is_object_name(name: str) -> bool:
    """Cloud Storage's rule for an object name, as far as staging relies on it: at most 1024 bytes, no newline."""
    return len(name.encode("utf-8")) <= 1024 and not any(c in name for c in "\r\n")


def split_gs(uri: str, what: str, *, object_required: bool) -> tuple[str, str]:
    """``gs://bucket/object`` → (bucket, object); raises StagingError naming ``what`` on a malformed URI."""
    if not uri.startswith("gs://"):
        raise StagingError(f"{what}: {uri!r} is not a gs:// URI (expected gs://BUCKET/OBJECT)")
    bucket, _, name = uri[len("gs://"):].partition("/")
    check_bucket_name(bucket, what, uri)
    name = name.strip("/") if not object_required else name
    if object_required and (not name or name.endswith("/")):
        raise StagingError(f"{what}: {uri!r} must name an object (expected gs://BUCKET/OBJECT)")
    if not is_object_name(name):
        raise StagingError(f"{what}: {uri!r} has an invalid object name (at most 1024 bytes, no newlines)")
    return bucket, name


def _strip(value: str | None) -> str | None:
    """Strip surrounding whitespace (a templated `` gs://b`` is ``gs://b``); empty means not given."""
    if value is None:
        return None
    return str(value).strip() or None


def split_packages(packages: Sequence[Any] | str | None) -> list[Any]:
    """``packages`` as a list of entries, the one splitter every operator and hook uses.

    A string is split on commas (gcloud's ``--packages``); string and path entries are stripped, and blank
    ones dropped, so a template that renders to ``""`` or ``" , "`` (or a list holding ``" "``) means no
    package rather than a bad one. Other values are kept for :func:`check_staging_args` to refuse by index.
    """
    if packages is None:
        return []
    entries: list[Any] = packages.split(",") if isinstance(packages, str) else list(packages)
    cleaned: list[Any] = []
    for entry in entries:
        if isinstance(entry, str | os.PathLike):
            text = str(entry).strip()
            if text:
                cleaned.append(text)
        else:
            cleaned.append(entry)
    return cleaned


def staging_prefix(*, job_id: str | None, staging_bucket: str | None, job_dir: str | None) -> tuple[str, str]:
    """The (bucket, object prefix) local packages go under, before the ``<sha256>/<file>`` part.

    With ``staging_bucket`` (``gs://bucket``, ``gs://bucket/prefix`` or a bare bucket name) the prefix ends in
    the job id, which is then required; otherwise ``<job_dir>/packages``. Neither given raises StagingError.
    Surrounding whitespace in any of the three is ignored.
    """
    job_id, staging_bucket, job_dir = _strip(job_id), _strip(staging_bucket), _strip(job_dir)
    if staging_bucket:
        uri = staging_bucket if staging_bucket.startswith("gs://") else f"gs://{staging_bucket}"
        bucket, prefix = split_gs(uri, "staging_bucket", object_required=False)
        if not job_id:
            raise StagingError("job_id: required to stage under a staging bucket (gs://STAGING/<jobId>/...)")
        if not is_valid_job_id(job_id):
            raise StagingError(
                f"job_id: {job_id!r} must be letters, digits and underscores, start with a letter, "
                "and be at most 128 characters"
            )
        return bucket, "/".join(p for p in (prefix, job_id) if p)
    if job_dir:
        bucket, prefix = split_gs(job_dir, "job_dir", object_required=False)
        return bucket, "/".join(p for p in (prefix, "packages") if p)
    raise StagingError(
        "staging_bucket/job_dir: a staging bucket or job dir is required to upload local packages"
    )


class Digests:
    """The sha256 and CRC32C of bytes fed in pieces: what a LocalFile holds, from one pass over its bytes
    (a file read here, or a package as the build writes it)."""

    def __init__(self) -> None:
        import google_crc32c  # only where files are hashed: the staging hook has it through google-cloud-storage

        self.sha256, self.crc32c, self.size = hashlib.sha256(), google_crc32c.Checksum(), 0

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        self.crc32c.update(data)
        self.size += len(data)

    def crc32c_b64(self) -> str:
        return base64.b64encode(self.crc32c.digest()).decode("ascii")


def hash_file(path: Path, combined: Any = None) -> LocalFile:
    """One read of the file: its own sha256 and CRC32C, and (when given) its bytes fed to the ``combined``
    path digest of several files."""
    digests = Digests()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            if combined is not None:
                combined.update(block)
            digests.update(block)
    return LocalFile(path, digests.size, digests.sha256.hexdigest(), digests.crc32c_b64())


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
    entries = split_packages(packages)
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
            split_gs(text, what, object_required=True)
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


def digest_staging(args: StagingArgs, known: Mapping[Path, LocalFile] | None = None) -> StagingPlan:
    """The checksums of the local files and the one sha256 that goes into every upload's path.

    Each file is read once. A lone local file's path digest is its own sha256, so a file in ``known`` (a
    package whose hashes were taken while it was built) is not read at all; several files need the one digest
    over all their bytes in order (gcloud's), so they are all read.
    """
    if not args.local:
        return StagingPlan(args.passthrough, (), None)
    assert args.destination is not None  # check_staging_args sets it whenever there are local files
    bucket, prefix = args.destination
    if len(args.local) == 1:
        only = args.local[0]
        files = [(known or {}).get(only) or hash_file(only)]
        digest = files[0].sha256
    else:
        combined = hashlib.sha256()
        files = [hash_file(p, combined) for p in args.local]
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


