"""build_training_package: gcloud's --package-path rules, an untouched user tree, reproducible bytes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
import textwrap
from pathlib import Path

import pytest

from airflow_provider_trainjobs import packaging
from airflow_provider_trainjobs.packaging import REPRODUCIBLE_MTIME, PackagingError, build_training_package

SEED_SETUP = """\
from setuptools import find_packages
from setuptools import setup

REQUIRED_PACKAGES = []

setup(
    name='trainer',
    version='0.1',
    install_requires=REQUIRED_PACKAGES,
    packages=find_packages(),
    include_package_data=True,
    description='My training application package.'
)
"""


def write_seed_project(root: Path, *, with_setup: bool = True) -> Path:
    """The seed documents' recommended layout: setup.py beside trainer/ (task.py, model.py, util.py)."""
    trainer = root / "trainer"
    trainer.mkdir(parents=True)
    (trainer / "__init__.py").write_text("")
    (trainer / "task.py").write_text("from trainer import model\n\nif __name__ == '__main__':\n    model.fit()\n")
    (trainer / "model.py").write_text("def fit() -> float:\n    return 0.5\n")
    (trainer / "util.py").write_text("def load() -> list[int]:\n    return [1, 2, 3]\n")
    if with_setup:
        (root / "setup.py").write_text(SEED_SETUP)
    return trainer


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every path under root with its mode, mtime and contents (dir mtimes catch even temporary files)."""
    state: dict[str, tuple[int, int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            data = path.read_bytes() if path.is_file() else b""
            state[str(path.relative_to(root))] = (st.st_mode, st.st_mtime_ns, data)
    st = root.stat()
    state["."] = (st.st_mode, st.st_mtime_ns, b"")
    return state


def members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def test_seed_layout_builds_with_its_setup_py_and_leaves_tree_untouched(tmp_path: Path) -> None:
    project = tmp_path / "my_application"
    trainer = write_seed_project(project)
    before = snapshot(project)

    built = build_training_package(trainer, tmp_path / "out")

    assert built.path == tmp_path / "out" / "trainer-0.1.tar.gz"
    assert built.generated_setup is False
    assert built.sha256 == hashlib.sha256(built.path.read_bytes()).hexdigest()
    assert built.size == built.path.stat().st_size
    names = members(built.path)
    for module in ("__init__.py", "task.py", "model.py", "util.py"):
        assert f"trainer-0.1/trainer/{module}" in names
    assert "trainer-0.1/setup.py" in names
    with tarfile.open(built.path) as tar:
        pkg_info = tar.extractfile("trainer-0.1/PKG-INFO")
        assert pkg_info is not None
        assert b"Summary: My training application package." in pkg_info.read()
    assert snapshot(project) == before


def test_without_setup_py_a_minimal_one_packages_only_that_package(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project, with_setup=False)
    (trainer / "sub").mkdir()
    (trainer / "sub" / "__init__.py").write_text("X = 1\n")
    (project / "other").mkdir()
    (project / "other" / "__init__.py").write_text("")
    (project / "notes.txt").write_text("not part of the package")
    before = snapshot(project)

    built = build_training_package(str(trainer))

    assert built.generated_setup is True
    assert built.path.name == "trainer-0.0.0.tar.gz"
    names = members(built.path)
    assert "trainer-0.0.0/trainer/task.py" in names
    assert "trainer-0.0.0/trainer/sub/__init__.py" in names
    assert not any("/other" in n or n.endswith("notes.txt") for n in names), names
    with tarfile.open(built.path) as tar:
        setup = tar.extractfile("trainer-0.0.0/setup.py")
        assert setup is not None
        assert "name='trainer'" in setup.read().decode()
    # The generated setup.py never appears in (or disappears from) the user's tree.
    assert snapshot(project) == before
    assert not (project / "setup.py").exists()


def test_pyproject_only_project_builds_with_its_own_backend(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project, with_setup=False)
    (project / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "census-trainer"
        version = "1.2.0"

        [tool.setuptools]
        packages = ["trainer"]
        """))
    before = snapshot(project)

    built = build_training_package(trainer)

    assert built.generated_setup is False
    assert built.path.name == "census_trainer-1.2.0.tar.gz"
    assert "census_trainer-1.2.0/trainer/model.py" in members(built.path)
    assert snapshot(project) == before


def test_pyproject_in_tree_backend_is_the_one_used(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project, with_setup=False)
    (project / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = []
        build-backend = "intree_backend"
        backend-path = ["_build"]
        """))
    (project / "_build").mkdir()
    (project / "_build" / "intree_backend.py").write_text(textwrap.dedent("""\
        import io, os, tarfile

        def build_sdist(sdist_directory, config_settings=None):
            name = "intree-9.9.tar.gz"
            with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
                data = b"made by the in-tree backend"
                info = tarfile.TarInfo("intree-9.9/MARKER")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            return name
        """))

    built = build_training_package(trainer)

    assert built.path.name == "intree-9.9.tar.gz"
    assert members(built.path) == ["intree-9.9/MARKER"]


def test_pyproject_backend_not_installed_is_one_clear_error(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project, with_setup=False)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["nosuchbackend"]\nbuild-backend = "nosuchbackend.api"\n'
    )
    with pytest.raises(PackagingError, match=r"build backend 'nosuchbackend.api' is not installed"):
        build_training_package(trainer)


def test_two_builds_of_an_unchanged_tree_are_identical_and_any_change_is_not(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project)
    first = build_training_package(trainer, tmp_path / "a")
    # Touching files (new mtimes) is not a content change.
    for path in trainer.iterdir():
        os.utime(path, (1_700_000_000, 1_700_000_000))
    second = build_training_package(trainer, tmp_path / "b")
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()

    (trainer / "model.py").write_text("def fit() -> float:\n    return 0.75\n")
    changed = build_training_package(trainer, tmp_path / "c")
    assert changed.sha256 != first.sha256


def test_tarball_members_are_normalised(tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "proj")
    built = build_training_package(trainer)
    with tarfile.open(built.path) as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == sorted(i.name for i in infos)
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname) for i in infos} == {(REPRODUCIBLE_MTIME, 0, 0, "", "")}
    assert built.path.read_bytes()[4:8] == b"\x00\x00\x00\x00"  # gzip header mtime


def test_stale_build_leftovers_in_the_tree_stay_out_of_the_sdist_and_in_place(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project)
    (project / "trainer.egg-info").mkdir()
    (project / "trainer.egg-info" / "SOURCES.txt").write_text("trainer/deleted_module.py\n")
    (project / "build").mkdir()
    (project / "build" / "junk.py").write_text("")
    (trainer / "__pycache__").mkdir()
    (trainer / "__pycache__" / "task.cpython-311.pyc").write_bytes(b"\x00")
    before = snapshot(project)

    built = build_training_package(trainer)

    names = members(built.path)
    assert not any("deleted_module" in n or "__pycache__" in n or "junk" in n for n in names), names
    assert snapshot(project) == before


def test_missing_init_py_is_an_error(tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "proj")
    (trainer / "__init__.py").unlink()
    with pytest.raises(PackagingError, match=r"has no __init__\.py"):
        build_training_package(trainer)


def test_path_that_is_not_a_directory_is_an_error(tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "proj")
    with pytest.raises(PackagingError, match=r"is not a directory"):
        build_training_package(trainer / "task.py")
    with pytest.raises(PackagingError, match=r"does not exist"):
        build_training_package(tmp_path / "nope")


def test_package_dir_name_must_be_importable_without_setup_py(tmp_path: Path) -> None:
    pkg = tmp_path / "proj" / "my-trainer"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    with pytest.raises(PackagingError, match=r"valid Python package name"):
        build_training_package(pkg)


def test_failing_setup_py_is_one_error_with_the_tail_of_its_output(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project)
    (project / "setup.py").write_text(
        "import sys\nprint('checking versions')\nsys.exit('setup.py: version must be set in VERSION file')\n"
    )
    before = snapshot(project)
    out = tmp_path / "out"
    with pytest.raises(PackagingError) as info:
        build_training_package(trainer, out)
    message = str(info.value)
    assert "setup.py sdist failed (exited with 1)" in message
    assert "version must be set in VERSION file" in message
    assert "checking versions" in message
    assert list(out.iterdir()) == []
    assert snapshot(project) == before


# --- what goes into the build dir ------------------------------------------------------------------------


@pytest.mark.parametrize("with_setup", [True, False], ids=["user-setup.py", "generated-setup.py"])
def test_subpackages_named_like_build_leftovers_are_packaged(tmp_path: Path, with_setup: bool) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project, with_setup=with_setup)
    for sub in ("build", "dist", "venv", ".eggs"):
        (trainer / sub).mkdir()
        (trainer / sub / "__init__.py").write_text(f"NAME = {sub!r}\n")
    before = snapshot(project)

    names = members(build_training_package(trainer).path)

    for sub in ("build", "dist", "venv"):
        assert any(n.endswith(f"/trainer/{sub}/__init__.py") for n in names), (sub, names)
    assert snapshot(project) == before


def test_top_level_package_called_build_is_kept_but_a_build_leftover_is_not(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project)
    (project / "dist").mkdir()
    (project / "dist" / "__init__.py").write_text("")  # a package that find_packages() picks up
    (project / "build").mkdir()
    (project / "build" / "lib").mkdir()
    (project / "build" / "lib" / "stale.py").write_text("")

    names = members(build_training_package(trainer).path)

    assert "trainer-0.1/dist/__init__.py" in names
    assert not any("stale" in n for n in names), names


def test_dangling_links_anywhere_in_the_project_are_skipped(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project)
    (project / "data").mkdir()
    for where in (project, trainer, project / "data"):
        (where / "gone.txt").symlink_to(tmp_path / "does-not-exist")
    before = snapshot(project)

    names = members(build_training_package(trainer).path)

    assert "trainer-0.1/trainer/task.py" in names
    assert not any("gone" in n for n in names), names
    assert snapshot(project) == before


def test_symlink_loops_are_skipped_and_linked_shared_code_is_packaged(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project)
    shared = tmp_path / "shared"
    (shared / "common").mkdir(parents=True)
    (shared / "common" / "__init__.py").write_text("")
    (shared / "common" / "back").symlink_to(trainer, target_is_directory=True)  # loops via an outside dir
    (trainer / "common").symlink_to(shared / "common", target_is_directory=True)
    (trainer / "self").symlink_to(trainer, target_is_directory=True)
    (trainer / "up").symlink_to(project, target_is_directory=True)
    (project / "loop").symlink_to(project, target_is_directory=True)
    before = snapshot(project)

    names = members(build_training_package(trainer).path)

    assert "trainer-0.1/trainer/common/__init__.py" in names  # the shared code a link brings in
    assert not any(part in n for n in names for part in ("/self", "/up/", "/back", "/loop")), names
    assert snapshot(project) == before


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_an_unreadable_file_is_one_packaging_error_naming_package_path(tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "proj")
    # Nobody, root included, can read this from offset 0: a portable stand-in for an unreadable file.
    (trainer / "weights.bin").symlink_to("/proc/self/mem")
    with pytest.raises(PackagingError, match=r"package_path '.*trainer': cannot prepare the build: .*weights\.bin"):
        build_training_package(str(trainer))


def test_dirs_beside_the_package_are_there_for_the_build_special_files_skipped(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project)
    # A copy of data/ would stop at the named pipe (shutil refuses to copy one; reading it would block).
    (project / "data").mkdir()
    os.mkfifo(project / "data" / "stream")
    (project / "data" / "train.csv").write_text("x,y\n1,2\n")
    (project / "helpers").mkdir()  # a second package setup.py's find_packages() picks up, read through a link
    (project / "helpers" / "__init__.py").write_text("VALUE = 1\n")
    (project / "MANIFEST.in").write_text("include data/*.csv\n")
    before = snapshot(project)

    names = members(build_training_package(trainer).path)

    assert {"trainer-0.1/helpers/__init__.py", "trainer-0.1/data/train.csv"} <= set(names), names
    assert not any("stream" in n for n in names)
    assert snapshot(project) == before


def test_a_symlinked_package_dir_is_built_with_the_setup_py_beside_the_link(tmp_path: Path) -> None:
    shared = tmp_path / "libs" / "trainer"
    shared.mkdir(parents=True)
    (shared / "__init__.py").write_text("")
    (shared / "task.py").write_text("print('trained')\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / "setup.py").write_text("from setuptools import setup\nsetup(name='myapp', version='0.1', packages=['trainer'])\n")
    (app / "trainer").symlink_to(Path("..") / "libs" / "trainer", target_is_directory=True)
    before = snapshot(tmp_path)

    built = build_training_package(app / "trainer")

    assert built.path.name == "myapp-0.1.tar.gz" and not built.generated_setup
    assert "myapp-0.1/trainer/task.py" in members(built.path)
    assert snapshot(tmp_path) == before


WRITING_SETUP = """\
import os
from setuptools import setup
with open(os.path.join("data", "train.csv"), "a") as f:
    f.write("3,4\\n")
with open(os.path.join("data", "made-by-setup.txt"), "w") as f:
    f.write("written")
with open({report!r}, "w") as f:
    f.write(__import__("json").dumps({{n: os.path.islink(n) for n in ("data", "big", "notes.txt")}}))
setup(name="trainer", version="0.1", packages=["trainer"])
"""


def test_a_setup_py_writing_into_a_root_dir_leaves_the_users_tree_unchanged(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    trainer = write_seed_project(project, with_setup=False)
    report = tmp_path / "report.json"
    (project / "setup.py").write_text(WRITING_SETUP.format(report=str(report)))
    (project / "data").mkdir()
    (project / "data" / "train.csv").write_text("x,y\n1,2\n")
    (project / "notes.txt").write_text("notes")
    before = snapshot(project)

    build_training_package(trainer)

    assert json.loads(report.read_text()) == {"data": False, "big": False, "notes.txt": False}
    assert snapshot(project) == before


def test_root_dirs_over_the_copy_budget_are_linked_largest_first_and_logged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(packaging, "COPY_BUDGET_BYTES", 64 * 1024)
    project = tmp_path / "proj"
    trainer = write_seed_project(project, with_setup=False)
    report = tmp_path / "report.json"
    (project / "setup.py").write_text(WRITING_SETUP.format(report=str(report)))
    (project / "data").mkdir()
    (project / "data" / "train.csv").write_text("x,y\n1,2\n")
    (project / "big").mkdir()
    (project / "big" / "weights.bin").write_bytes(b"\0" * 100 * 1024)  # alone over the 64 KiB budget
    (project / "notes.txt").write_text("notes")
    before = snapshot(project)

    with caplog.at_level(logging.WARNING, logger="airflow_provider_trainjobs.packaging"):
        build_training_package(trainer)

    assert json.loads(report.read_text()) == {"data": False, "big": True, "notes.txt": False}
    linked = [r.getMessage() for r in caplog.records if "linked into the build dir" in r.getMessage()]
    assert len(linked) == 1 and str(project / "big") in linked[0] and "0.1 MiB copy budget" in linked[0], linked
    assert snapshot(project) == before  # the setup.py wrote only into data/, a copy


TIMEOUT_SETUP = """\
import os, subprocess, sys, time
print("configuring step 1")
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
orphan = subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(120)"])
while os.getsid(orphan.pid) == os.getsid(0):
    time.sleep(0.01)
with open({pids!r} + ".tmp", "w") as f:
    f.write("[%d, %d, %d]" % (os.getpid(), child.pid, orphan.pid))
os.replace({pids!r} + ".tmp", {pids!r})
print("configuring step 2")
time.sleep(120)
"""


def test_a_build_over_the_timeout_is_killed_with_its_children_and_reports_its_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from support import processes_gone

    monkeypatch.setattr(packaging, "BUILD_TIMEOUT_SECONDS", 5)
    project = tmp_path / "proj"
    trainer = write_seed_project(project, with_setup=False)
    pids_file = tmp_path / "pids.json"
    (project / "setup.py").write_text(TIMEOUT_SETUP.format(pids=str(pids_file)))

    with pytest.raises(PackagingError, match=r"took longer than 5s") as caught:
        build_training_package(trainer)

    assert "configuring step 1" in str(caught.value) and "configuring step 2" in str(caught.value)
    pids = json.loads(pids_file.read_text())
    assert processes_gone(pids), f"the build or its children {pids} outlived the timeout"
