"""What the ``[local]`` extra installs, and the one message ``trainjobs-local`` gives when it is missing.

The provider's hard requirements are what a production worker needs; the local service's own (the storage
emulator, optuna's tuner, and numpy / cloudml-hypertune for the trainers it runs) come with
``airflow-provider-trainjobs[local]``.
"""

from __future__ import annotations

import importlib.util
import sys

# import name -> distribution in the [local] extra (pyproject.toml)
LOCAL_EXTRA_MODULES = {
    "gcp_storage_emulator": "gcp-storage-emulator",
    "optuna": "optuna",
    "numpy": "numpy",
    "hypertune": "cloudml-hypertune",
}
INSTALL_HINT = "pip install 'airflow-provider-trainjobs[local]'"


def _importable(name: str) -> bool:
    if name in sys.modules:
        return sys.modules[name] is not None  # None: an import blocked on purpose
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing_local_extra() -> list[str]:
    """Distributions of the ``[local]`` extra this interpreter cannot import (cheap: no module is imported)."""
    return [dist for module, dist in LOCAL_EXTRA_MODULES.items() if not _importable(module)]


def missing_extra_message(missing: list[str]) -> str:
    return (f"trainjobs-local: the local service needs the [local] extra, and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed in {sys.executable}; "
            f"install it with: {INSTALL_HINT}")
