"""Hooks: I/O with Google APIs (training jobs, Cloud Storage staging, Cloud Logging)."""
