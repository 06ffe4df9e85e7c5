"""docs/job-spec.md: its python snippets run as written, next to the page's own config.yaml example."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "job-spec.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


@pytest.fixture
def page_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory holding the page's config.yaml (its first YAML block), as the working directory."""
    (tmp_path / "config.yaml").write_text(blocks("yaml")[0])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(code: str, page_dir: Path) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "docs_job_spec", "__file__": str(page_dir / "dag.py")}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - the page's own example
    return namespace


def test_every_snippet_runs(page_dir: Path) -> None:
    codes = blocks("python")
    assert len(codes) >= 3
    for code in codes:
        run(code, page_dir)


def test_build_snippet_reads_the_config_and_applies_the_arguments(page_dir: Path) -> None:
    code = next(c for c in blocks("python") if 'job = build_training_job(\n    "census_20240131"' in c)
    job = run(code, page_dir)["job"]
    assert job["jobId"] == "census_20240131"
    assert job["trainingInput"]["masterType"] == "complex_model_m"  # from config.yaml
    assert job["trainingInput"]["args"] == ["--epochs=5"]


def test_vertex_snippet_builds_an_l4_job_only_for_vertex(page_dir: Path) -> None:
    code = next(c for c in blocks("python") if 'backend="vertex"' in c)
    namespace = run(code, page_dir)
    accelerator = namespace["job"]["trainingInput"]["masterConfig"]["acceleratorConfig"]
    assert accelerator == {"type": "NVIDIA_L4", "count": 1}
    assert namespace["rejected"] == "trainingInput.masterConfig.acceleratorConfig.type"
