"""OpenLineage facets of a training job: what it read from Cloud Storage and where it wrote.

Used by ``get_openlineage_facets_on_complete`` of the submit, tuning and package operators. The OpenLineage
provider is imported only here, inside the functions, when its extractor asks: without it nothing is
imported and the operators behave the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["gcs_uris", "job_lineage", "lineage_of", "staging_lineage"]

# A gs:// URI inside an argument such as --train-data=gs://b/x.csv or a comma-separated list of them.
_GCS_URI = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,220}(?:/[^\s,;'\"]*)?")


def gcs_uris(values: Iterable[Any]) -> list[str]:
    """Every ``gs://`` URI in ``values`` (strings; others are skipped), in order, each once."""
    found: list[str] = []
    for value in values:
        if isinstance(value, str):
            found.extend(u for u in _GCS_URI.findall(value) if u not in found)
    return found


def job_lineage(job: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(inputs, outputs) of a Job: its ``packageUris`` and the ``gs://`` URIs in its ``args``; its ``jobDir``
    (the base output directory on Vertex AI, where every trial writes too)."""
    training_input = job.get("trainingInput")
    if not isinstance(training_input, Mapping):
        return [], []
    packages = training_input.get("packageUris") or []
    args = training_input.get("args") or []
    inputs = gcs_uris([*(packages if isinstance(packages, list) else []), *(args if isinstance(args, list) else [])])
    job_dir = training_input.get("jobDir")
    outputs = gcs_uris([job_dir]) if isinstance(job_dir, str) else []
    return [u for u in inputs if u not in outputs], outputs


def staging_lineage(passthrough: Iterable[str], uploaded: Iterable[str]) -> tuple[list[str], list[str]]:
    """(inputs, outputs) of a packaging task: the ``gs://`` packages it passed on; the ones it staged."""
    return gcs_uris(passthrough), gcs_uris(uploaded)


def _dataset(uri: str) -> Any:
    """The OpenLineage dataset of a ``gs://`` URI: namespace ``gs://<bucket>``, name the object path."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    bucket, _, path = uri[len("gs://"):].partition("/")
    return Dataset(namespace=f"gs://{bucket}", name=path.rstrip("/") or "/")


def lineage_of(inputs: list[str], outputs: list[str]) -> Any:
    """An ``OperatorLineage`` for the OpenLineage provider, or None when it is not installed."""
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    return OperatorLineage(inputs=[_dataset(u) for u in inputs], outputs=[_dataset(u) for u in outputs])
