"""A web page on another loopback port cannot drive the local service (issue 10): headless Chromium loads
it and it tries, with ``no-cors`` fetches (which need no CORS answer), to create a job that runs code, to
change fault injection and to upload an object. None of it may happen."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support import make_job, storage_client, unique, upload
from support.browser import find_chromium, run_chromium
from support.raw_http import request

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>attacker</title></head><body>
<p id="result">not run</p>
<script>
const attempts = %(attempts)s;
Promise.all(attempts.map(([url, body]) =>
  fetch(url, {mode: "no-cors", method: "POST", headers: {"Content-Type": "text/plain"}, body: body})
    .then(r => r.type, e => "error: " + e)))
  .then(kinds => { document.getElementById("result").textContent = "sent " + kinds.length + ": " + kinds; });
</script></body></html>"""


@pytest.fixture
def attacker_page() -> Iterator[tuple[str, dict[str, str]]]:
    """A page server on its own loopback port; the test puts the page's HTML in the returned dict."""
    content: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            data = content["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", content
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_elsewhere_cannot_create_jobs_change_faults_or_upload(
    tmp_path: Path, local_service: Any, trainer_sdist: Path, attacker_page: tuple[str, dict[str, str]],
) -> None:
    browser = find_chromium()
    api, storage = local_service.api_endpoint, local_service.storage_endpoint
    package = upload(storage, trainer_sdist)
    marker = tmp_path / "pwned"
    job_id = unique("cross_origin")
    body = make_job(job_id, package, ["-n", "1", f"open({str(marker)!r}, 'w').write('ran')"])
    body["trainingInput"]["pythonModule"] = "timeit"
    obj = unique("cross-origin-object")
    admin = {"Authorization": f"Bearer {local_service.admin_token}"}
    faults_before = request(api, "GET", "/admin/faults", headers=admin).json()
    attempts = [
        [f"{api}/v1/projects/local-project/jobs", json.dumps(body)],
        [f"{api}/admin/faults", json.dumps({"latency": 3, "fail_next": 100})],
        [f"{storage}/upload/storage/v1/b/trainjobs-tests/o?uploadType=media&name={obj}", "evil"],
    ]
    url, content = attacker_page
    content["html"] = PAGE % {"attempts": json.dumps(attempts)}

    dom = run_chromium(browser, tmp_path, "--virtual-time-budget=20000", "--dump-dom", url).stdout

    assert "sent 3: opaque,opaque,opaque" in dom  # the page ran and every request was sent and answered
    assert request(api, "GET", f"/v1/projects/local-project/jobs/{job_id}").status == 404
    after = request(api, "GET", "/admin/faults", headers=admin).json()
    assert {k: v for k, v in after.items() if k != "injected"} == {
        k: v for k, v in faults_before.items() if k != "injected"}
    assert storage_client(storage).bucket("trainjobs-tests").get_blob(obj) is None
    assert not marker.exists()
