"""Many clients creating one jobId at once (issue 10): exactly one create wins each round, every other one
gets 409, and no connection is reset (the listen backlog holds the burst)."""

from __future__ import annotations

import json
import threading
from typing import Any

from support import make_job, unique
from support.raw_http import request

THREADS = 20
ROUNDS = 10


def test_concurrent_creates_of_one_job_id(local_service: Any) -> None:
    api = local_service.api_endpoint
    barrier = threading.Barrier(THREADS)
    for _ in range(ROUNDS):
        body = json.dumps(make_job(unique("race"), "gs://trainjobs-tests/packages/missing.tar.gz"))
        answers: list[int | str] = []

        def create(body: str = body, answers: list[int | str] = answers) -> None:
            barrier.wait()
            try:
                status: int | str = request(api, "POST", "/v1/projects/local-project/jobs", body).status
            except OSError as err:  # a reset or refused connection is a failure of the service
                status = repr(err)
            answers.append(status)  # list.append is atomic

        threads = [threading.Thread(target=create) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sorted(answers, key=str) == [200] + [409] * (THREADS - 1), answers
