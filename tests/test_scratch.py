"""Where a package build keeps its scratch files: in memory when it fits, the temp dir otherwise."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from airflow_provider_trainjobs import scratch
from airflow_provider_trainjobs.packaging import build_training_package

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def ram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in RAM dir with 1 GiB free, and no TMPDIR."""
    path = tmp_path / "ram"
    path.mkdir()
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(scratch, "RAM_DIR", path)
    real = shutil.disk_usage
    monkeypatch.setattr(scratch.shutil, "disk_usage",
                        lambda p: Usage(2**31, 2**30, 2**30) if Path(p) == path else real(p))
    return path


def test_a_small_build_goes_to_the_ram_dir(ram: Path) -> None:
    assert scratch.scratch_dir(10 * 2**20) == str(ram)


@pytest.mark.parametrize("needed", [scratch.RAM_MAX_BYTES + 1, int(2**30 * scratch.RAM_SHARE) + 1])
def test_a_build_too_big_for_memory_uses_the_temp_dir(ram: Path, needed: int) -> None:
    assert scratch.scratch_dir(needed) is None


def test_an_explicit_tmpdir_wins(ram: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(ram.parent))
    assert scratch.scratch_dir(1) is None


def test_no_ram_dir_or_a_read_only_one_uses_the_temp_dir(ram: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert scratch.scratch_dir(1, tmp_path / "absent") is None
    monkeypatch.setattr(scratch.os, "access", lambda path, mode: False)  # read-only (root may write anywhere)
    assert scratch.scratch_dir(1) is None


def test_the_build_runs_its_setup_py_in_the_ram_dir(ram: Path, tmp_path: Path) -> None:
    root = tmp_path / "app"
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "__init__.py").write_text("")
    seen = tmp_path / "cwd.txt"
    (root / "setup.py").write_text(
        "import os\n"
        f"open({str(seen)!r}, 'w').write(os.getcwd())\n"
        "from setuptools import setup\nsetup(name='trainer', version='1.0', packages=['trainer'])\n")

    built = build_training_package(root / "trainer", tmp_path / "out")

    assert built.path.name == "trainer-1.0.tar.gz"
    assert Path(seen.read_text()).is_relative_to(ram)  # the scratch copy was in the RAM dir
    assert list(ram.iterdir()) == []  # and is gone
