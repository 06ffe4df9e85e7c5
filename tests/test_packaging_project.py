"""Packaging follows setuptools for setup.cfg, pyproject.toml and MANIFEST.in roots (issue 11 item 4)."""

from __future__ import annotations

import tarfile
import textwrap
from pathlib import Path

import pytest

from airflow_provider_trainjobs.packaging import build_training_package, check_package_path
from airflow_provider_trainjobs.packaging_project import project_kind


def write_trainer(root: Path) -> Path:
    trainer = root / "trainer"
    trainer.mkdir(parents=True)
    (trainer / "__init__.py").write_text("")
    (trainer / "task.py").write_text("print('training')\n")
    return trainer


def pkg_info(path: Path) -> str:
    with tarfile.open(path) as tar:
        info = next(m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO"))
        data = tar.extractfile(info)
        assert data is not None
        return data.read().decode()


def test_setup_cfg_only_root_keeps_name_version_and_dependencies(tmp_path: Path) -> None:
    # The reproduction: this was trainer-0.0.0.tar.gz from a generated setup.py, with no dependencies.
    trainer = write_trainer(tmp_path / "app")
    (tmp_path / "app" / "setup.cfg").write_text(textwrap.dedent("""\
        [metadata]
        name = trainer
        version = 2.0

        [options]
        packages = find:
        install_requires =
            requests>=2
        """))

    built = build_training_package(trainer, tmp_path / "out")

    assert built.path.name == "trainer-2.0.tar.gz"
    assert built.generated_setup is False
    assert "Requires-Dist: requests>=2" in pkg_info(built.path)
    with tarfile.open(built.path) as tar:
        assert "trainer-2.0/trainer/task.py" in tar.getnames()
    assert not (tmp_path / "app" / "setup.py").exists()  # the shim lives in the build dir only
    assert check_package_path(trainer).tarball_name is None  # the project, not the dir name, decides


def test_pyproject_only_root_keeps_name_version_and_dependencies(tmp_path: Path) -> None:
    trainer = write_trainer(tmp_path / "app")
    (tmp_path / "app" / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "trainer"
        version = "3.1"
        dependencies = ["requests>=2"]

        [tool.setuptools]
        packages = ["trainer"]
        """))

    built = build_training_package(trainer, tmp_path / "out")

    assert built.path.name == "trainer-3.1.tar.gz"
    assert "Requires-Dist: requests>=2" in pkg_info(built.path)


def test_manifest_in_only_root_generates_setup_py_and_applies_the_manifest(tmp_path: Path) -> None:
    project = tmp_path / "app"
    trainer = write_trainer(project)
    (trainer / "vocab.txt").write_text("a b c\n")
    (project / "MANIFEST.in").write_text("include trainer/vocab.txt\ninclude NOTES.md\n")
    (project / "NOTES.md").write_text("how to train\n")
    (project / "other").mkdir()
    (project / "other" / "__init__.py").write_text("")

    built = build_training_package(trainer, tmp_path / "out")

    assert built.generated_setup is True
    assert built.path.name == "trainer-0.0.0.tar.gz"
    with tarfile.open(built.path) as tar:
        names = tar.getnames()
    assert "trainer-0.0.0/trainer/vocab.txt" in names and "trainer-0.0.0/NOTES.md" in names
    assert not any("/other/" in n for n in names), names
    assert not (project / "setup.py").exists()


def test_tool_only_config_files_are_no_project(tmp_path: Path) -> None:
    project = tmp_path / "app"
    trainer = write_trainer(project)
    (project / "setup.cfg").write_text("[flake8]\nmax-line-length = 120\n\n[options]\ninstall_requires = requests>=2\n")
    (project / "pyproject.toml").write_text("[tool.black]\nline-length = 120\n")
    assert project_kind(project) == "generated"

    built = build_training_package(trainer, tmp_path / "out")

    # Still a usable package named for the dir, and setup.cfg's install_requires still apply under it.
    assert built.path.name == "trainer-0.0.0.tar.gz"
    assert "Requires-Dist: requests>=2" in pkg_info(built.path)


@pytest.mark.parametrize("name, text", [
    ("setup.cfg", "[metadata\nname = x\n"),
    ("setup.cfg", "no section header\n"),
    ("setup.cfg", "\udcff"),
    ("pyproject.toml", "[project\n"),
    ("pyproject.toml", "\x00\x01"),
])
def test_unparsable_project_files_count_as_a_project(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    assert project_kind(tmp_path) == ("setup.cfg" if name == "setup.cfg" else "pyproject")
