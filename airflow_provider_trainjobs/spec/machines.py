"""AI Platform Training machine names, scale tiers and runtime versions as their Vertex AI equivalents.

Every table below says where its values come from and which ones no public source confirmed (those
were kept as written; docs/vertex.md marks them the same way). Sources:

- [MT] AI Platform Training, "Specifying machine types or scale tiers",
  https://cloud.google.com/ai-platform/training/docs/machine-types (also the ?hl=ja / zh-cn / ko copies).
  Only the opening of this page (the CUSTOM config.yaml example: n1-highcpu-16 master/workers,
  n1-highmem-8 parameter servers) could be read in the stored copies; its scale-tier and legacy-type
  tables could not, so nothing below is confirmed from them directly.
- [API] ml v1 ``TrainingInput.masterType`` / ``ScaleTier`` reference (mirrored in the generated Google API
  clients): each GPU legacy type is "a machine equivalent to <base type> that also includes N <GPU>";
  BASIC_GPU is "a single worker instance with a K80 GPU".
- [NB] Google's AI Platform Notebooks scheduler extension (``data.ts``, Copyright 2020 Google LLC), which
  cites [MT]#compare-machine-types and #scale_tiers: per legacy type its vCPUs, RAM and GPUs; STANDARD_1 =
  "1 master instance, 4 workers, 3 parameter servers"; PREMIUM_1 = "1 master instance, 19 workers, 11
  parameter servers". Some of its GPU rows are visibly copy-pasted (complex_model_m_p100 listed with K80s,
  complex_model_l_gpu twice), so only its CPU rows and the standard_gpu / standard_p100 rows are used.
- [YT8M] "YouTube-8M on AI Platform", https://medium.com/google-cloud/youtube-8m-on-ai-platform-f0a0f8688ce9:
  standard_gpu is an n1-standard-8 (8 vCPUs, 30 GB) with one K80, i.e. the same as BASIC_GPU.
- [PBC] Vertex AI, "Prebuilt containers for custom training",
  https://cloud.google.com/vertex-ai/docs/training/pre-built-containers (now
  https://docs.cloud.google.com/gemini-enterprise-agent-platform/machine-learning/training/pre-built-containers).
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from .schema import discovery_document

__all__ = [
    "ACCELERATOR_TYPES",
    "COMPUTE_ENGINE_PREFIXES",
    "LEGACY_MACHINE_TYPES",
    "RUNTIME_VERSIONS",
    "SCALE_TIERS",
    "Machine",
    "TierPools",
    "GPU_MACHINE_SERIES",
    "executor_image",
    "gpu_machine_problem",
    "machine_for",
    "vertex_accelerator_types",
]


class Machine(NamedTuple):
    """A Vertex ``machineSpec``: a Compute Engine machine type and optional accelerators."""

    machine_type: str
    accelerator_type: str | None = None
    accelerator_count: int = 0


# Legacy CPU machine types and their Compute Engine equivalents. Confirmed by [NB]'s vCPU/RAM per type
# (standard 4 vCPU/15 GB, large_model 8/52, complex_model_s 8/7.2, complex_model_m 16/14.4,
# complex_model_l 32/28.8), which are exactly these n1 types.
_CPU = {
    "standard": "n1-standard-4",
    "large_model": "n1-highmem-8",
    "complex_model_s": "n1-highcpu-8",
    "complex_model_m": "n1-highcpu-16",
    "complex_model_l": "n1-highcpu-32",
}

LEGACY_MACHINE_TYPES: dict[str, Machine] = {
    **{name: Machine(machine) for name, machine in _CPU.items()},
    # Corrected: [NB] gives 8 vCPUs, 30 GB RAM and one K80 / one P100 (n1-standard-8), and [YT8M] says
    # n1-standard-8 + 1 K80 = BASIC_GPU; so [API]'s "equivalent to standard" is not the Compute Engine
    # machine (it was n1-standard-4 here).
    "standard_gpu": Machine("n1-standard-8", "NVIDIA_TESLA_K80", 1),
    "standard_p100": Machine("n1-standard-8", "NVIDIA_TESLA_P100", 1),
    # UNCONFIRMED: the accelerator and count are [API]'s; the host machine is [API]'s base type, but no
    # source found gives its Compute Engine machine, and the two rows above show the base type is not
    # always it (standard_v100 in particular may well be n1-standard-8 too). Kept as written.
    "complex_model_m_gpu": Machine(_CPU["complex_model_m"], "NVIDIA_TESLA_K80", 4),
    "complex_model_l_gpu": Machine(_CPU["complex_model_l"], "NVIDIA_TESLA_K80", 8),
    "complex_model_m_p100": Machine(_CPU["complex_model_m"], "NVIDIA_TESLA_P100", 4),
    "standard_v100": Machine(_CPU["standard"], "NVIDIA_TESLA_V100", 1),
    "large_model_v100": Machine(_CPU["large_model"], "NVIDIA_TESLA_V100", 1),
    "complex_model_m_v100": Machine(_CPU["complex_model_m"], "NVIDIA_TESLA_V100", 4),
    "complex_model_l_v100": Machine(_CPU["complex_model_l"], "NVIDIA_TESLA_V100", 8),
}

# Compute Engine machine types pass through unchanged (AI Platform accepted the n1 family; Vertex takes
# these and newer families). UNCONFIRMED: this prefix list was not checked against a source; Vertex itself
# rejects a type it does not offer for training.
COMPUTE_ENGINE_PREFIXES = ("n1-", "n2-", "n2d-", "e2-", "c2-", "a2-", "g2-", "a3-", "m1-")

# ml v1 AcceleratorConfig.type values that have the same name on Vertex: the GPUs of the ml v1 enum. On the
# vertex backend any GPU of the aiplatform v1 enum is accepted (see vertex_accelerator_types); this table is
# what an ai-platform job can carry over unchanged. TPU types are left out on purpose: AI Platform attached TPUs
# through a separate "cloud_tpu" worker, which has no one-to-one Vertex form.
ACCELERATOR_TYPES = {
    "NVIDIA_TESLA_K80": "NVIDIA_TESLA_K80",
    "NVIDIA_TESLA_P100": "NVIDIA_TESLA_P100",
    "NVIDIA_TESLA_V100": "NVIDIA_TESLA_V100",
    "NVIDIA_TESLA_P4": "NVIDIA_TESLA_P4",
    "NVIDIA_TESLA_T4": "NVIDIA_TESLA_T4",
    "NVIDIA_TESLA_A100": "NVIDIA_TESLA_A100",
}

# The machine series each GPU runs on. Source: Compute Engine, "About GPUs"
# (https://cloud.google.com/compute/docs/gpus/about-gpus): GPUs are supported on the N1 general-purpose series
# and the accelerator-optimized A3, A2 and G2 series, "GPUs can't be used with other machine series"; A3 machine
# types come with H100 80GB (A3 High/Mega/Edge) or H200 141GB (A3 Ultra) GPUs, A2 with A100 (40GB: A2 Standard,
# 80GB: A2 Ultra), G2 with L4; "for all other GPU types" (T4, V100, P100, P4, K80) N1 machine types. Vertex AI
# custom training runs on these Compute Engine machines. GPUs not listed here are not checked.
GPU_MACHINE_SERIES = {
    "NVIDIA_H100_80GB": "a3",
    "NVIDIA_H100_MEGA_80GB": "a3",
    "NVIDIA_H200_141GB": "a3",
    "NVIDIA_TESLA_A100": "a2",
    "NVIDIA_A100_80GB": "a2",
    "NVIDIA_L4": "g2",
    "NVIDIA_TESLA_T4": "n1",
    "NVIDIA_TESLA_V100": "n1",
    "NVIDIA_TESLA_P100": "n1",
    "NVIDIA_TESLA_P4": "n1",
    "NVIDIA_TESLA_K80": "n1",
}
_SERIES_EXAMPLE = {"a3": "a3-highgpu-8g", "a2": "a2-highgpu-1g", "g2": "g2-standard-8", "n1": "n1-standard-8"}


def gpu_machine_problem(machine_type: str, accelerator_type: str) -> str | None:
    """Why ``accelerator_type`` cannot be attached to ``machine_type`` (None when it can, or is not known).

    Only machine types of a Compute Engine series in ``COMPUTE_ENGINE_PREFIXES`` are judged.
    """
    required = GPU_MACHINE_SERIES.get(accelerator_type)
    series = machine_type.split("-", 1)[0]
    if required is None or f"{series}-" not in COMPUTE_ENGINE_PREFIXES or series == required:
        return None
    return (f"{accelerator_type} runs only on {required.upper()} machine types (e.g. {_SERIES_EXAMPLE[required]}), "
            f"not on {machine_type}")


@cache
def vertex_accelerator_types() -> dict[str, bool]:
    """Every aiplatform v1 ``MachineSpec.acceleratorType`` value (GPUs and TPUs) -> True if Vertex deprecated it.

    Read from the discovery document shipped in google-api-python-client, so new GPUs (NVIDIA_L4,
    NVIDIA_H100_80GB, ...) are accepted as soon as the client library knows them. Confirmed there: the enum
    marks NVIDIA_TESLA_K80 "Deprecated: ... reached end of support".
    """
    spec = discovery_document("aiplatform.v1")["schemas"]["GoogleCloudAiplatformV1MachineSpec"]
    prop = spec["properties"]["acceleratorType"]
    deprecated = prop.get("enumDeprecated") or [False] * len(prop["enum"])
    return {name: bool(flag) for name, flag in zip(prop["enum"], deprecated, strict=True)
            if name != "ACCELERATOR_TYPE_UNSPECIFIED"}


class TierPools(NamedTuple):
    """The cluster a predefined scale tier stands for: machines and replica counts per role."""

    master: Machine
    worker: Machine | None = None
    worker_count: int = 0
    parameter_server: Machine | None = None
    parameter_server_count: int = 0


# Replica counts confirmed by [NB] (STANDARD_1: 1 + 4 workers + 3 parameter servers; PREMIUM_1: 1 + 19 + 11)
# and BASIC_GPU's single K80 by [API]. BASIC_GPU's n1-standard-8 is supported by [YT8M] (standard_gpu =
# n1-standard-8 + K80 = BASIC_GPU). UNCONFIRMED: BASIC's n1-standard-4 and the STANDARD_1 / PREMIUM_1
# machine types ([MT]'s table could not be read); kept as written.
SCALE_TIERS: dict[str, TierPools] = {
    "BASIC": TierPools(Machine("n1-standard-4")),
    "STANDARD_1": TierPools(Machine("n1-highcpu-8"), Machine("n1-highcpu-8"), 4, Machine("n1-standard-4"), 3),
    "PREMIUM_1": TierPools(
        Machine("n1-highcpu-16"), Machine("n1-highcpu-16"), 19, Machine("n1-highmem-8"), 11
    ),
    "BASIC_GPU": TierPools(Machine("n1-standard-8", "NVIDIA_TESLA_K80", 1)),
}

# AI Platform runtime version -> TensorFlow version of the Vertex prebuilt training container. [PBC] lists
# TensorFlow 1.15, 2.1-2.9 and 2.11 containers for Python 3.7 as us/europe/asia-docker.pkg.dev/vertex-ai/
# training/tf-{cpu,gpu}.X-Y:latest (CPU and GPU for every one); it lists no TensorFlow 2.10 container at all,
# so runtime 2.10 is left out. 2.8, 2.9 and 2.11 also have Python 3.10 images (tf-*.X-Y.py310), which only
# executor_image_uri selects. [PBC] gives every one of these images an end-of-availability date (1.15, 2.1-2.7:
# Sep 1, 2024; 2.8, 2.9, 2.11: Nov 15, 2024): Vertex may refuse them; executor_image_uri picks a current one.
# Corrected: 2.9 and 2.11 were missing (said to have moved to differently named images).
RUNTIME_VERSIONS = {
    "1.15": "1-15",
    "2.1": "2-1",
    "2.2": "2-2",
    "2.3": "2-3",
    "2.4": "2-4",
    "2.5": "2-5",
    "2.6": "2-6",
    "2.7": "2-7",
    "2.8": "2-8",
    "2.9": "2-9",
    "2.11": "2-11",
}
# The containers above are the "(Python 3.7)" rows of [PBC]. That AI Platform ran these runtime versions on
# Python 3.7 is UNCONFIRMED (the runtime version list could not be read); kept as written.
RUNTIME_PYTHON_VERSION = "3.7"


def machine_for(name: str) -> Machine | None:
    """The Vertex machine for an AI Platform machine name, or None when there is no certain equivalent."""
    if name in LEGACY_MACHINE_TYPES:
        return LEGACY_MACHINE_TYPES[name]
    if name.startswith(COMPUTE_ENGINE_PREFIXES):
        return Machine(name)
    return None


def _registry(region: str | None) -> str:
    """The Artifact Registry host nearest the region.

    [PBC] publishes each image in us-, europe- and asia-docker.pkg.dev and says any of them may be used; which
    one is "nearest" (australia -> asia) is this module's choice.
    """
    area = (region or "").split("-", 1)[0]
    if area == "europe":
        return "europe-docker.pkg.dev"
    if area in ("asia", "australia"):
        return "asia-docker.pkg.dev"
    return "us-docker.pkg.dev"


def executor_image(runtime_version: str, *, gpu: bool, region: str | None) -> str | None:
    """The prebuilt training container for an AI Platform runtime version, or None if none is certain."""
    tf = RUNTIME_VERSIONS.get(runtime_version)
    if tf is None:
        return None
    flavour = "gpu" if gpu else "cpu"
    return f"{_registry(region)}/vertex-ai/training/tf-{flavour}.{tf}:latest"
