"""Fixtures for the hook tests: the tiny trainer staged on the local service, fault control, backends."""

from tiny_trainer import (  # noqa: F401 - fixtures
    backend_conn,
    lenient_conn,
    lenient_service,
    no_faults,
    tiny_package,
    tiny_sdist,
    vertex_available,
)
