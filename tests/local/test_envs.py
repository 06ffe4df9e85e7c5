"""The pieces of a job environment that need no service: requirement filtering, index settings, hostile wheels."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from airflow_provider_trainjobs.local import envs
from airflow_provider_trainjobs.local.envs import Base, ResolutionError, probe_base, unsatisfied


def _wheel(tmp_path: Path, name: str, requires: list[str], file_name: str | None = None) -> Path:
    path = tmp_path / (file_name or f"{name}-1.0-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as archive:
        lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0", *(f"Requires-Dist: {r}" for r in requires)]
        archive.writestr(f"{name}-1.0.dist-info/METADATA", "\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def base() -> Base:
    return probe_base(sys.executable)


def test_the_probe_sees_the_service_environment(base: Base) -> None:
    assert base.dists["packaging"] and any("site-packages" in d for d in base.dirs)
    assert base.markers["python_version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"


def test_only_what_the_base_and_the_other_wheels_lack_is_resolved(tmp_path: Path, base: Base) -> None:
    wheels = [_wheel(tmp_path, "trainer", ["packaging", "packaging>=999", "helper", "inflection>=0.5",
                                           "winonly; sys_platform == 'win32'", "extra-only; extra == 'gpu'"]),
              _wheel(tmp_path, "helper", [])]
    assert unsatisfied(wheels, base) == ["packaging>=999", "inflection>=0.5"]


@pytest.mark.parametrize("requirement", ["not a requirement !!", "x (", "a; python_version >>"])
def test_an_invalid_requires_dist_is_named(tmp_path: Path, base: Base, requirement: str) -> None:
    with pytest.raises(ResolutionError, match="is not a valid requirement"):
        unsatisfied([_wheel(tmp_path, "trainer", [requirement])], base)


def test_a_hostile_wheel_is_a_resolution_error(tmp_path: Path, base: Base) -> None:
    not_zip = tmp_path / "trainer-1.0-py3-none-any.whl"
    not_zip.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ResolutionError, match="not a readable wheel"):
        unsatisfied([not_zip], base)
    with pytest.raises(ResolutionError, match="not a wheel file name"):
        unsatisfied([_wheel(tmp_path, "trainer", [], file_name="../evil.whl".replace("/", "_"))], base)


def test_pips_index_settings_reach_uv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (*envs._UV_INDEX_ENV, "UV_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    monkeypatch.setattr(envs, "_pip_config", lambda: [
        ("index-url", "https://mirror.example/simple"), ("extra-index-url", f"file://{tmp_path} file:///nonexistent"),
        ("find-links", str(tmp_path)), ("cert", "/etc/ssl/x.pem"), ("no-index", "false")])
    monkeypatch.setattr(envs.Path, "is_file", lambda self: False)  # no /etc/uv/uv.toml either
    assert envs.uv_index_args() == ["--index-url", "https://mirror.example/simple",
                                    "--extra-index-url", f"file://{tmp_path}", "--find-links", str(tmp_path)]


def test_uvs_own_settings_win_over_pips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_INDEX_URL", "https://uv.example/simple")
    monkeypatch.setattr(envs, "_pip_config", lambda: [("index-url", "https://pip.example/simple")])
    assert envs.uv_index_args() == []


def test_pip_config_is_read_through_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://pip-env.example/simple")
    envs._pip_config.cache_clear()
    assert ("index-url", "https://pip-env.example/simple") in envs._pip_config()


def test_the_runtime_key_is_runtime_version_or_the_vertex_executor_image() -> None:
    from airflow_provider_trainjobs.local.packages import runtime_key

    assert runtime_key({"trainingInput": {"runtimeVersion": "2.11"}}) == ("runtimeVersion", "2.11")
    assert runtime_key({"trainingInput": {}}) is None
    image = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-11.py310:latest"
    vertex = {"trainingInput": {"runtimeVersion": "2.11"}, "vertex": {"pools": [
        {"index": 0, "executorImageUri": image}]}}
    assert runtime_key(vertex) == ("workerPoolSpecs[0].pythonPackageSpec.executorImageUri", image)
    assert runtime_key({"trainingInput": {"runtimeVersion": "2.11"}, "vertex": {"pools": [{"index": 0}]}}) is None
