"""ml v1 label PATCH applies the label rules (issue 10 item 2) through the real client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from googleapiclient.errors import HttpError
from support import make_job, ml_client, unique, upload

PROJECT = "local-project"


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ({"Upper": "x"}, "labels.Upper"),
        ({"ok": "Has Space"}, "labels.ok"),
        ({f"k{i}": "v" for i in range(65)}, "labels"),
        ({"ok": 5}, "labels"),
    ],
)
def test_patch_labels_applies_the_label_rules(local_service: Any, trainer_sdist: Path, labels: Any,
                                              field: str) -> None:
    ml = ml_client(local_service.api_endpoint)
    job_id = unique("patchrules")
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=make_job(job_id, uri)).execute()
    name = f"projects/{PROJECT}/jobs/{job_id}"
    with pytest.raises(HttpError) as err:
        ml.projects().jobs().patch(name=name, updateMask="labels", body={"labels": labels}).execute()
    error = json.loads(err.value.content)["error"]
    assert err.value.resp.status == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith(f"{field}:")
    assert ml.projects().jobs().get(name=name).execute().get("labels") in (None, {})
