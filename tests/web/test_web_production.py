"""The production shape (``make serve``): nginx buffering in front of gunicorn, with an RQ worker
and Redis for video jobs. Slow clients, nginx's own refusals and a video job, end to end.

Skipped where nginx is not installed (``.ci/run`` installs it with Debian's package).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from live_server import ROOT, slow_clients_trial, wait_ready
from webhelpers import free_port, write_video

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                                reason="nginx is not installed (apt-get install nginx)")


@pytest.fixture(scope="module")
def production(tmp_path_factory, redis_url: str) -> Iterator[str]:
    """``python -m faceinsight.web.production`` on a free port, with Redis; yields its URL."""
    folder = tmp_path_factory.mktemp("production")
    port = free_port()
    env = {**os.environ, "FACEINSIGHT_UPLOAD_DIR": str(folder / "uploads"),
           "FACEINSIGHT_INSTANCE_DIR": str(folder / "instance"), "REDIS_URL": redis_url,
           "FACEINSIGHT_RQ_QUEUE": f"faceinsight-{port}", "PYTHONPATH": str(ROOT),
           "GUNICORN_LOGLEVEL": "warning", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with (folder / "serve.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "faceinsight.web.production", "--port", str(port)],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, (folder / "serve.log").read_text(errors="replace")[-3000:]


def test_slow_clients_are_held_by_nginx_not_by_the_app(production: str, astronaut_jpeg: bytes) -> None:
    trial = slow_clients_trial(production, astronaut_jpeg, clients=10, seconds=12)
    assert trial.slowest_health_s < 2.0 and trial.photo_s < 10.0
    assert trial.outcomes == ["still sending"] * 10  # nginx keeps reading them, at no thread's cost


def test_nginx_refuses_an_oversized_body_in_json_before_reading_it(production: str) -> None:
    port = int(production.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data;"
                     b" boundary=b\r\nContent-Length: 500000000\r\n\r\n")
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413")
    assert '{"error": "the upload is too large; the limit is 100 MiB"}' in answer


def test_the_client_address_comes_through_and_the_app_answers_in_json(production: str) -> None:
    answer = requests.post(f"{production}/api/v1/analyze", files={"file": ("a.txt", b"hello")}, timeout=10)
    assert answer.status_code == 415 and "error" in answer.json()


def test_a_video_job_runs_on_the_rq_worker(production: str, tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=8, fps=4)
    with video.open("rb") as file:
        created = requests.post(f"{production}/api/v1/videos", files={"file": ("clip.avi", file)},
                                data={"sample_fps": "2"}, timeout=30)
    assert created.status_code == 202, created.text
    job = created.json()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        state = requests.get(f"{production}{job['url']}", headers={"X-Job-Token": job["token"]},
                             timeout=10).json()
        if state["status"] in ("done", "failed"):
            break
        time.sleep(0.5)
    assert state["status"] == "done", state


def test_a_large_upload_is_buffered_by_nginx_and_read(production: str, astronaut_jpeg: bytes) -> None:
    """An upload over nginx's 1 MiB memory buffer goes through its temporary file first (which
    its workers, not root, must be able to write)."""
    padded = astronaut_jpeg[:2] + (b"\xff\xfe\xff\xff" + b"x" * 65533) * 48 + astronaut_jpeg[2:]
    assert len(padded) > 3 * 2**20
    answer = requests.post(f"{production}/api/v1/analyze", files={"file": ("big.jpg", padded)}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["faces"]
