"""Which kind of project a trainer root is, so packaging follows setuptools the way gcloud's build does.

A root with a ``setup.py`` runs it; a ``pyproject.toml`` with a ``[project]`` or ``[build-system]`` table is built
with its backend; a ``setup.cfg`` whose ``[metadata]`` names the project gets a one-line ``setup()`` shim (setuptools
reads name, version and ``install_requires`` from ``setup.cfg``). Only where none of these is there is a minimal
``setup.py`` generated, and then beside a copy of the root's ``MANIFEST.in``/``setup.cfg`` so they still apply.
"""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path
from typing import Literal

__all__ = ["SETUP_SHIM", "ProjectKind", "has_project_files", "project_kind"]

ProjectKind = Literal["setup.py", "pyproject", "setup.cfg", "generated"]

# What setuptools itself needs to build a setup.cfg-only project: every setting comes from setup.cfg.
SETUP_SHIM = "from setuptools import setup\n\nsetup()\n"

# Files at the root that setuptools reads even under a generated setup.py: the root is then mirrored.
_PROJECT_FILES = ("setup.cfg", "MANIFEST.in", "pyproject.toml")


def project_kind(root: Path) -> ProjectKind:
    """How the project at ``root`` is built: its setup.py, its pyproject backend, a setup.cfg shim, or generated.

    A ``pyproject.toml`` holding only tool settings (``[tool.black]``) or a ``setup.cfg`` holding only tool
    settings (``[flake8]``) is no project: setuptools would name it ``UNKNOWN-0.0.0``. A file that cannot be
    parsed counts as a project, so the build reports the parser's own error instead of silently ignoring it.
    """
    if (root / "setup.py").is_file():
        return "setup.py"
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            with open(pyproject, "rb") as f:
                tables = tomllib.load(f)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return "pyproject"
        if "project" in tables or "build-system" in tables:
            return "pyproject"
    setup_cfg = root / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(setup_cfg, encoding="utf-8")
        except (OSError, UnicodeDecodeError, configparser.Error):
            return "setup.cfg"
        if parser.has_option("metadata", "name") and parser.get("metadata", "name").strip():
            return "setup.cfg"
    return "generated"


def has_project_files(root: Path) -> bool:
    """True when ``root`` holds a file setuptools reads besides setup.py (``MANIFEST.in``, tool-only configs)."""
    return any((root / name).is_file() for name in _PROJECT_FILES)
