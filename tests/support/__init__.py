"""Helpers shared by every test folder (``from support import ...``: tests/ is on sys.path because the root
conftest lives there). Fixtures built on them live in tests/conftest.py."""

from support.airflow_context import RUN_ID, RecordingTI, make_context, render_and_execute
from support.jobs import (
    TERMINAL,
    backend_job,
    lose_first_create_response,
    make_job,
    poll_until,
    runtime_for,
    start_sleeping,
    tiny_job,
    unique,
    wait_for,
    wait_for_state,
)
from support.processes import process_alive, processes_gone, wait_for_file
from support.sdists import make_sdist, setsid_build_prelude, slow_build_prelude
from support.seeds import SEED_004_CONFIG_YAML
from support.service import list_log_entries, logging_client, ml_client, set_faults, storage_client, upload
from support.trainer import TRAINER_MODULE, TRAINER_PACKAGE, TRAINER_SRC, build_trainer_sdist

__all__ = [
    "RUN_ID", "SEED_004_CONFIG_YAML", "TERMINAL", "TRAINER_MODULE", "TRAINER_PACKAGE", "TRAINER_SRC", "RecordingTI", "backend_job",
    "build_trainer_sdist", "list_log_entries", "logging_client", "lose_first_create_response", "make_context",
    "make_job", "make_sdist", "ml_client", "poll_until", "process_alive", "processes_gone", "render_and_execute", "runtime_for",
    "set_faults", "setsid_build_prelude", "start_sleeping", "slow_build_prelude", "storage_client", "tiny_job", "unique", "upload", "wait_for", "wait_for_file", "wait_for_state",
]
