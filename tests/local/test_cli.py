"""``trainjobs-local`` commands as a user runs them: up (eval), status, describe, logs, cancel, down."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml
from support import ml_client, processes_gone, start_sleeping, tiny_job, upload, wait_for


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow_provider_trainjobs.local", *args],
                          capture_output=True, text=True, timeout=120)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bash(script: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, env=env)


def test_up_eval_status_describe_logs_cancel_down(tmp_path: Path, trainer_sdist: Path) -> None:
    """One background service driven as a gcloud user would, through every command."""
    data_dir = tmp_path / "svc"
    port, storage_port = _port(), _port()
    # eval "$(trainjobs-local up)" exports the connection; up's own status went to stderr
    shell = _bash(f'eval "$(trainjobs-local up --data-dir {data_dir} --port {port} --storage-port {storage_port}'
                  ' --max-concurrent-jobs 2)" && printf %s "$AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"')
    pid = int((data_dir / "service.pid").read_text()) if (data_dir / "service.pid").exists() else 0
    try:
        assert shell.returncode == 0, shell.stderr
        conn = json.loads(shell.stdout)
        assert conn["extra"]["api_endpoint"] == f"http://127.0.0.1:{port}"
        assert conn["extra"]["storage_endpoint"] == f"http://127.0.0.1:{storage_port}"
        assert conn["extra"]["project"] == "local-project" and conn["extra"]["backend"] == "ai-platform"
        assert f"up (pid {pid})" in shell.stderr and str(data_dir) in shell.stderr

        again = _cli("up", "--data-dir", str(data_dir))  # already running: the same export line, exit 0
        assert again.returncode == 0 and "already running" in again.stderr
        assert again.stdout.startswith("export AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT=")
        assert len(again.stdout.strip().splitlines()) == 1
        other = _port()
        conflict = _cli("up", "--data-dir", str(data_dir), "--port", str(other))
        assert conflict.returncode == 1 and conflict.stdout == ""
        assert f"--port {other}" in conflict.stderr and f"--port {port}" in conflict.stderr

        ml = ml_client(conn["extra"]["api_endpoint"])
        uri = upload(conn["extra"]["storage_endpoint"], trainer_sdist)
        ml.projects().jobs().create(parent="projects/local-project",
                                    body=tiny_job("cli_done", uri, lines=3)).execute()
        ml.projects().jobs().create(parent="projects/local-project",
                                    body=tiny_job("cli_long", uri, lines=1, sleep=120)).execute()
        # logs --follow prints the trainer's lines and returns when the job ends
        follow = _cli("logs", "cli_done", "--follow", "--data-dir", str(data_dir))
        assert follow.returncode == 0, follow.stderr
        assert "job cli_done ended: SUCCEEDED" in follow.stderr
        assert [ln for ln in follow.stdout.splitlines() if "master-replica-0" in ln and "line 2" in ln]
        only = _cli("logs", "cli_done", "--replica", "service", "--data-dir", str(data_dir))
        assert only.stdout and all(" service " in ln for ln in only.stdout.splitlines())

        described = _cli("describe", "cli_done", "--data-dir", str(data_dir))
        assert described.returncode == 0
        resource = yaml.safe_load(described.stdout)
        assert resource["jobId"] == "cli_done" and resource["state"] == "SUCCEEDED"
        assert json.loads(_cli("describe", "cli_done", "--json", "--data-dir", str(data_dir)).stdout) == resource

        wait_for(ml, "local-project", "cli_long", lambda job: job["state"] == "RUNNING")
        cancelled = _cli("cancel", "cli_long", "--data-dir", str(data_dir))
        assert cancelled.returncode == 0, cancelled.stderr
        assert wait_for(ml, "local-project", "cli_long")["state"] == "CANCELLED"

        for hostile in ('x" OR resource.labels.job_id="other', "a\\b", ""):
            bad = _cli("logs", "cli_done", "--replica", hostile, "--data-dir", str(data_dir))
            assert bad.returncode == 1 and "--replica" in bad.stderr and "Traceback" not in bad.stderr
        missing = _cli("describe", "no_such_job", "--data-dir", str(data_dir))
        assert missing.returncode == 1 and "no_such_job" in missing.stderr and "Traceback" not in missing.stderr

        status = _cli("status", "--data-dir", str(data_dir))
        assert status.returncode == 0
        assert f"data dir: {data_dir}" in status.stdout and f"running (pid {pid})" in status.stdout
        rows = {x.split()[1]: x.split()[2] for x in status.stdout.splitlines() if x.startswith("local-project")}
        assert rows == {"cli_done": "SUCCEEDED", "cli_long": "CANCELLED"}
        report = json.loads(_cli("status", "--json", "--data-dir", str(data_dir)).stdout)
        assert report["running"] and report["pid"] == pid and report["data_dir"] == str(data_dir)
        assert report["api_endpoint"] == f"http://127.0.0.1:{port}"
        assert {j["jobId"]: j["state"] for j in report["jobs"]} == rows
        assert report["jobs"][0]["labels"] == {"owner": "hook-tests"}

        with subprocess.Popen([sys.executable, "-m", "airflow_provider_trainjobs.local", "status", "--json",
                               "--watch", "0.2", "--data-dir", str(data_dir)],
                              stdout=subprocess.PIPE, text=True) as watch:
            assert watch.stdout is not None
            frames = [json.loads(watch.stdout.readline()) for _ in range(2)]  # one report per line, repeated
            watch.terminate()
        assert [f["running"] for f in frames] == [True, True]
    finally:
        down = _cli("down", "--data-dir", str(data_dir))
    assert down.returncode == 0 and "stopped" in down.stdout
    assert processes_gone([pid])
    assert not (data_dir / "service.pid").exists()
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
        answered = True
    except OSError:
        answered = False
    assert not answered
    after = _cli("status", "--data-dir", str(data_dir))
    assert after.returncode == 3  # nothing runs there
    assert f"data dir: {data_dir}" in after.stdout and "not running" in after.stdout
    assert "cli_done" in after.stdout  # the stopped service's jobs are still listed
    for command in (["logs", "cli_done"], ["cancel", "cli_done"], ["describe", "cli_done"]):
        done = _cli(*command, "--data-dir", str(data_dir))
        assert done.returncode == 3 and "no service is running" in done.stderr and "up --data-dir" in done.stderr


def test_help_has_examples_and_no_restructured_text() -> None:
    for command in ([], ["up"], ["status"], ["logs"], ["describe"], ["cancel"], ["serve"], ["down"]):
        done = _cli(*command, "--help")
        assert done.returncode == 0, done.stderr
        assert "``" not in done.stdout and ":func:" not in done.stdout and ":class:" not in done.stdout
        assert command == ["down"] or "example" in done.stdout
    top = _cli("--help").stdout
    assert "examples:" in top and 'eval "$(trainjobs-local up)"' in top
    for name in ("serve", "up", "down", "status", "describe", "logs", "cancel"):
        assert f"    {name}" in top


def test_down_never_signals_a_process_that_is_not_the_service(tmp_path: Path) -> None:
    data_dir = tmp_path / "svc"
    data_dir.mkdir()
    stranger = subprocess.Popen(["sleep", "60"])  # holds the pid a stale service.json names
    try:
        (data_dir / "service.json").write_text(
            json.dumps({"pid": stranger.pid, "port": _port(), "storage_port": _port()}))
        (data_dir / "service.pid").write_text(str(stranger.pid))

        down = _cli("down", "--data-dir", str(data_dir))

        assert down.returncode == 0 and "not running" in down.stdout and "left alone" in down.stdout
        assert stranger.poll() is None, "down signalled a process that is not the service"
        assert not (data_dir / "service.json").exists() and not (data_dir / "service.pid").exists()
    finally:
        stranger.kill()
        stranger.wait()


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow_provider_trainjobs.local", "serve", *args],
                          capture_output=True, text=True, timeout=60)  # a hang guard: it must exit at once


def test_serve_exits_with_one_line_naming_the_option_when_a_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        for option, ports in (("--port", [str(taken), str(_port())]), ("--storage-port", [str(_port()), str(taken)])):
            done = _serve("--data-dir", str(tmp_path / option.strip("-")), "--port", ports[0],
                          "--storage-port", ports[1])
            assert done.returncode == 1, done.stdout
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and f"{option} {taken}" in lines[0], done.stderr
            assert "AIRFLOW_CONN" not in done.stdout  # never reported ready


def test_up_does_not_take_another_server_on_the_port_for_its_service(tmp_path: Path) -> None:
    import http.server
    import threading

    class Healthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            body = b'{"status": "ok"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    other = http.server.HTTPServer(("127.0.0.1", 0), Healthy)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        port = other.server_address[1]
        up = _cli("up", "--data-dir", str(tmp_path / "svc"), "--port", str(port), "--storage-port", str(_port()))
        assert up.returncode == 1, up.stdout
        assert f"--port {port}" in up.stderr and "is up" not in up.stdout
        assert not (tmp_path / "svc" / "service.json").exists()
    finally:
        _cli("down", "--data-dir", str(tmp_path / "svc"))
        other.shutdown()
        other.server_close()


def test_a_second_service_on_the_same_data_dir_exits_and_leaves_the_first_ones_jobs_alone(
        tmp_path: Path, trainer_sdist: Path) -> None:
    from support import process_alive

    from airflow_provider_trainjobs.local.launcher import serving

    data_dir = tmp_path / "data"
    pid_file = tmp_path / "pids.json"
    with serving(data_dir) as first:
        ml = ml_client(first.api_endpoint)
        job_id = f"shared_{_port()}"
        pids = start_sleeping(ml, "local-project", job_id, upload(first.storage_endpoint, trainer_sdist), pid_file)
        wait_for(ml, "local-project", job_id, lambda j: j["state"] == "RUNNING")

        second = _serve("--data-dir", str(data_dir), "--port", str(_port()), "--storage-port", str(_port()))

        assert second.returncode == 1, second.stdout
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "--data-dir" in lines[0] and f"pid {first.proc.pid}" in lines[0], second.stderr
        assert "AIRFLOW_CONN" not in second.stdout
        job = ml.projects().jobs().get(name=f"projects/local-project/jobs/{job_id}").execute()
        assert job["state"] == "RUNNING" and all(process_alive(p) for p in pids)
        ml.projects().jobs().cancel(name=f"projects/local-project/jobs/{job_id}", body={}).execute()
        assert wait_for(ml, "local-project", job_id)["state"] == "CANCELLED"
