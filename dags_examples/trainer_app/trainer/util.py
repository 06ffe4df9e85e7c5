"""Reading and writing gs:// (or local) paths, and the synthetic dataset the demo trains on.

google.cloud.storage honours STORAGE_EMULATOR_HOST, which the local service sets, so the same code
reads and writes the emulator locally and Cloud Storage in the cloud.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

_client: Any = None


def _storage_client() -> Any:
    global _client
    if _client is None:
        from google.cloud import storage

        # The project comes from the environment the service gives us; never guess it (seed 002).
        _client = storage.Client(project=os.environ.get("CLOUD_ML_PROJECT_ID") or None)
    return _client


def split_gs(uri: str) -> tuple[str, str]:
    """("bucket", "path/in/bucket") for gs://bucket/path/in/bucket."""
    bucket, _, name = uri[len("gs://") :].partition("/")
    return bucket, name


def join(base: str, *parts: str) -> str:
    """Join path parts with "/" whether ``base`` is gs:// or local."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def read_bytes(uri: str) -> bytes:
    if uri.startswith("gs://"):
        bucket, name = split_gs(uri)
        return bytes(_storage_client().bucket(bucket).blob(name).download_as_bytes())
    return Path(uri).read_bytes()


def write_bytes(uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    if uri.startswith("gs://"):
        bucket, name = split_gs(uri)
        _storage_client().bucket(bucket).blob(name).upload_from_string(data, content_type=content_type)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def list_names(prefix_uri: str) -> list[str]:
    """Full URIs of the objects (or files) under ``prefix_uri``."""
    if prefix_uri.startswith("gs://"):
        bucket, prefix = split_gs(prefix_uri)
        blobs = _storage_client().list_blobs(bucket, prefix=prefix.rstrip("/") + "/")
        return [f"gs://{bucket}/{blob.name}" for blob in blobs]
    root = Path(prefix_uri)
    return [str(p) for p in sorted(root.iterdir())] if root.is_dir() else []


def make_dataset(n_samples: int = 800, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two noisy concentric rings in 2-D plus 2 noise features: not linearly separable, so a
    hidden layer and a sensible learning rate are both needed for high accuracy."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n_samples)
    radius = np.where(labels == 1, 2.0, 1.0) + rng.normal(0, 0.25, size=n_samples)
    angle = rng.uniform(0, 2 * np.pi, size=n_samples)
    features = np.column_stack(
        [radius * np.cos(angle), radius * np.sin(angle), rng.normal(0, 1, size=(n_samples, 2))]
    )
    return features.astype(np.float64), labels.astype(np.float64)


def dataset_csv(n_samples: int = 800, seed: int = 0) -> str:
    """The dataset as CSV text: a header ``x1,x2,x3,x4,label`` then one row per sample."""
    features, labels = make_dataset(n_samples, seed)
    buf = io.StringIO()
    buf.write("x1,x2,x3,x4,label\n")
    for row, label in zip(features, labels, strict=True):
        buf.write(",".join(f"{v:.6f}" for v in row) + f",{int(label)}\n")
    return buf.getvalue()


def upload_dataset(uri: str, n_samples: int = 800, seed: int = 0) -> str:
    """Write the deterministic dataset CSV to ``uri`` (gs:// or local); the demo DAG seeds its bucket
    with this. Returns ``uri``."""
    write_bytes(uri, dataset_csv(n_samples, seed).encode(), content_type="text/csv")
    return uri


def load_csv(uri: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels from a CSV whose last column is the 0/1 label."""
    data = np.loadtxt(io.StringIO(read_bytes(uri).decode()), delimiter=",", skiprows=1, ndmin=2)
    return data[:, :-1], data[:, -1]
