"""Fixtures for the hook tests: the tiny trainer staged on the local service, fault control."""

from tiny_trainer import lenient_conn, lenient_service, no_faults, tiny_package, tiny_sdist  # noqa: F401
