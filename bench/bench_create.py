"""Lost-answer duplicate benchmark: 100 creates per backend with 10% of the create answers lost after the
service processed them and 20% of all API requests answered 429/500/503; counts the jobs made per job id.

Starts a real ``trainjobs-local serve`` in a temporary data dir; the answers are lost by a proxy between the
hook and the service (tests/support/lossy_proxy.py), the errors by the service's own fault injection.
Runnable alone: ``.venv/bin/python bench/bench_create.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.creates import create_many  # noqa: E402
from support.service import upload  # noqa: E402
from support.trainer import build_trainer_sdist  # noqa: E402

from airflow_provider_trainjobs.local.launcher import serving  # noqa: E402

CREATES = 100
LOSE_RATE = 0.1
ERROR_RATE = 0.2
BEFORE = "vertex, httplib2 re-sending POSTs (before)"


def measure() -> dict[str, dict[str, int]]:
    """The counts of :func:`support.creates.create_many` per backend, and on Vertex with httplib2's own
    re-send of a POST put back (the transport before the fix), side by side."""
    import httplib2

    from airflow_provider_trainjobs.hooks import clients

    results: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sdist = build_trainer_sdist(work / "dist", work / "build")
        with serving(work / "data") as service:
            package = upload(service.storage_endpoint, sdist)
            for backend in ("ai-platform", "vertex"):
                results[backend] = create_many(service, backend, package, f"bench_{backend.replace('-', '_')}",
                                               CREATES, lose_rate=LOSE_RATE, error_rate=ERROR_RATE, seed=11)
            fixed = clients._one_shot_http_class
            clients._one_shot_http_class = lambda: httplib2.Http  # type: ignore[assignment]
            try:
                results[BEFORE] = create_many(service, "vertex", package, "bench_plain", CREATES,
                                              lose_rate=LOSE_RATE, error_rate=ERROR_RATE, seed=11)
            finally:
                clients._one_shot_http_class = fixed  # type: ignore[method-assign]
    return results


def run() -> str:
    """The markdown section for docs/benchmarks.md."""
    results = measure()
    rows = [f"| {backend} | {r['posts']} | {r['lost']} | {r['jobs']} | **{r['twins']}** | {r['failed']} |"
            for backend, r in results.items()]
    met = "met" if all(r["twins"] == 0 and r["jobs"] == CREATES
                       for backend, r in results.items() if backend != BEFORE) else "missed"
    return "\n".join([
        "## Creates under lost answers",
        "",
        f"{CREATES} creates per backend, each by a fresh `TrainingJobHook` (`max_retries=8`), with {LOSE_RATE:.0%} of"
        f" the create answers lost after the service processed them (a proxy closes the connection instead of"
        f" answering) and {ERROR_RATE:.0%} of all API requests answered 429/500/503 by the service.",
        "",
        "| backend | create POSTs received | answers lost | job ids created | duplicate jobs | creates failed |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Goal: 0 duplicate jobs on both backends ({met}). The last row puts back httplib2's re-send of a"
        " request whose answer was lost (`RETRIES = 2`), which the hook's transport now refuses for POSTs.",
    ])


if __name__ == "__main__":
    print(run())
