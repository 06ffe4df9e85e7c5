"""AI Platform Training machine names, scale tiers and runtime versions as their Vertex AI equivalents.

Sources (also listed in docs/vertex.md):

- Scale tiers and legacy machine types: AI Platform Training, "Specifying machine types or scale tiers",
  https://cloud.google.com/ai-platform/training/docs/machine-types (sections "Scale tiers",
  "Compute Engine machine types" and "Legacy machine types").
- The GPU legacy types are defined by the ml v1 API reference (``TrainingInput.masterType``) as "a machine
  equivalent to <base type> that also includes N <GPU>"; they map to the base type's Compute Engine machine
  plus that accelerator.
- Executor images: Vertex AI, "Prebuilt containers for custom training",
  https://cloud.google.com/vertex-ai/docs/training/pre-built-containers. Runtime versions were named after
  the TensorFlow release they bundled, so each maps to the TensorFlow training container of that release.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "ACCELERATOR_TYPES",
    "COMPUTE_ENGINE_PREFIXES",
    "LEGACY_MACHINE_TYPES",
    "RUNTIME_VERSIONS",
    "SCALE_TIERS",
    "Machine",
    "TierPools",
    "executor_image",
    "machine_for",
]


class Machine(NamedTuple):
    """A Vertex ``machineSpec``: a Compute Engine machine type and optional accelerators."""

    machine_type: str
    accelerator_type: str | None = None
    accelerator_count: int = 0


# Legacy CPU machine types and their Compute Engine equivalents.
_CPU = {
    "standard": "n1-standard-4",
    "large_model": "n1-highmem-8",
    "complex_model_s": "n1-highcpu-8",
    "complex_model_m": "n1-highcpu-16",
    "complex_model_l": "n1-highcpu-32",
}

LEGACY_MACHINE_TYPES: dict[str, Machine] = {
    **{name: Machine(machine) for name, machine in _CPU.items()},
    # "A machine equivalent to <base> that also includes N <GPU>" (ml v1 TrainingInput.masterType).
    "standard_gpu": Machine(_CPU["standard"], "NVIDIA_TESLA_K80", 1),
    "complex_model_m_gpu": Machine(_CPU["complex_model_m"], "NVIDIA_TESLA_K80", 4),
    "complex_model_l_gpu": Machine(_CPU["complex_model_l"], "NVIDIA_TESLA_K80", 8),
    "standard_p100": Machine(_CPU["standard"], "NVIDIA_TESLA_P100", 1),
    "complex_model_m_p100": Machine(_CPU["complex_model_m"], "NVIDIA_TESLA_P100", 4),
    "standard_v100": Machine(_CPU["standard"], "NVIDIA_TESLA_V100", 1),
    "large_model_v100": Machine(_CPU["large_model"], "NVIDIA_TESLA_V100", 1),
    "complex_model_m_v100": Machine(_CPU["complex_model_m"], "NVIDIA_TESLA_V100", 4),
    "complex_model_l_v100": Machine(_CPU["complex_model_l"], "NVIDIA_TESLA_V100", 8),
}

# Compute Engine machine types pass through unchanged (AI Platform accepted the n1 family; Vertex takes
# these and newer families).
COMPUTE_ENGINE_PREFIXES = ("n1-", "n2-", "n2d-", "e2-", "c2-", "a2-", "g2-", "a3-", "m1-")

# ml v1 AcceleratorConfig.type -> Vertex MachineSpec.acceleratorType. TPU types are left out on purpose:
# AI Platform attached TPUs through a separate "cloud_tpu" worker, which has no one-to-one Vertex form.
ACCELERATOR_TYPES = {
    "NVIDIA_TESLA_K80": "NVIDIA_TESLA_K80",
    "NVIDIA_TESLA_P100": "NVIDIA_TESLA_P100",
    "NVIDIA_TESLA_V100": "NVIDIA_TESLA_V100",
    "NVIDIA_TESLA_P4": "NVIDIA_TESLA_P4",
    "NVIDIA_TESLA_T4": "NVIDIA_TESLA_T4",
    "NVIDIA_TESLA_A100": "NVIDIA_TESLA_A100",
}


class TierPools(NamedTuple):
    """The cluster a predefined scale tier stands for: machines and replica counts per role."""

    master: Machine
    worker: Machine | None = None
    worker_count: int = 0
    parameter_server: Machine | None = None
    parameter_server_count: int = 0


SCALE_TIERS: dict[str, TierPools] = {
    "BASIC": TierPools(Machine("n1-standard-4")),
    "STANDARD_1": TierPools(Machine("n1-highcpu-8"), Machine("n1-highcpu-8"), 4, Machine("n1-standard-4"), 3),
    "PREMIUM_1": TierPools(
        Machine("n1-highcpu-16"), Machine("n1-highcpu-16"), 19, Machine("n1-highmem-8"), 11
    ),
    "BASIC_GPU": TierPools(Machine("n1-standard-8", "NVIDIA_TESLA_K80", 1)),
}

# AI Platform runtime version -> TensorFlow version of the Vertex prebuilt training container. Only
# versions whose container is published under the plain "tf-{cpu,gpu}.X-Y" name are listed; for any
# other version the caller must choose the image (executor_image_uri).
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
}
# Every runtime version above ran trainers on Python 3.7 on AI Platform, as do these containers.
RUNTIME_PYTHON_VERSION = "3.7"


def machine_for(name: str) -> Machine | None:
    """The Vertex machine for an AI Platform machine name, or None when there is no certain equivalent."""
    if name in LEGACY_MACHINE_TYPES:
        return LEGACY_MACHINE_TYPES[name]
    if name.startswith(COMPUTE_ENGINE_PREFIXES):
        return Machine(name)
    return None


def _registry(region: str | None) -> str:
    """The Artifact Registry host nearest the region (the prebuilt images are mirrored in us/europe/asia)."""
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
