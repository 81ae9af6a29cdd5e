"""Against a real gunicorn on loopback (the Procfile's command): hostile input over real HTTP,
clients that hang up half-way, a job whose client left, and a restart that keeps kept results.

Its output is captured: no request here may leave a traceback in the server's log, and its one
worker must survive everything (same pid at the end).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hostile_inputs import MULTIPART, file_part, jpeg, photo_cases, small_video, video_cases
from live_server import rss_mib, start_gunicorn, stop_gunicorn, wait_ready, worker_pids
from media_bombs import bottom_up_avi, jpeg_with_empty_scans, thin_png
from webhelpers import csrf_in_page

JOB_TTL_MINUTES = 0.05  # an abandoned (not kept) job is swept 3 s after its last activity


class LiveServer:
    """gunicorn (1 worker, 4 threads) on a private folder, with its output in a log file.

    :param folder: uploads, instance key and the log live here (kept across restarts).
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.log_path = folder / "gunicorn.log"
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        env = {"FACEINSIGHT_SWEEP_MINUTES": "0.01", "FACEINSIGHT_JOB_TTL_MINUTES": str(JOB_TTL_MINUTES)}
        with self.log_path.open("ab") as log:
            self.process, self.url = start_gunicorn(1, 4, self.folder, extra_env=env, output=log.fileno())
        wait_ready(self.url, self.process, timeout=120)

    def stop(self) -> None:
        if self.process is not None:
            stop_gunicorn(self.process)

    def workers(self) -> list[int]:
        assert self.process is not None and self.process.poll() is None, "gunicorn died"
        return worker_pids(self.process.pid)

    @property
    def uploads(self) -> Path:
        return self.folder / "uploads"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("live"))
    live.start()
    yield live
    live.stop()
    assert "Traceback" not in live.log(), live.log()[-3000:]


def browser_session(server: LiveServer, keep: bool) -> tuple[requests.Session, str]:
    """A requests session that opened the page (session cookie, CSRF token), keeping captures or not."""
    session = requests.Session()
    token = csrf_in_page(session.get(f"{server.url}/", timeout=30).text)
    response = session.post(f"{server.url}/session/privacy", json={"keep": keep},
                            headers={"X-CSRF-Token": token}, timeout=30)
    assert response.status_code == 200
    return session, token


def post(session: requests.Session, url: str, body: tuple[bytes, str | None]) -> requests.Response:
    data, content_type = body
    return session.post(url, data=data, headers={"Content-Type": content_type} if content_type else {},
                        timeout=120)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_hostile_input_over_http_and_the_server_stays_up(server: LiveServer, tmp_path: Path) -> None:
    workers = server.workers()
    session = requests.Session()
    cases = [("/api/v1/analyze", case) for case in photo_cases()]
    cases += [("/predict", case) for case in photo_cases()[:12]]
    cases += [("/api/v1/videos", case) for case in video_cases(tmp_path)]
    for route, case in cases:
        response = post(session, server.url + route, case.build())
        assert response.status_code == case.status, (route, case.label, response.text[:300])
        assert response.headers["Content-Type"] == "application/json"
        if case.status >= 400:
            assert case.words in response.json()["error"], (route, case.label, response.text)
    assert requests.get(f"{server.url}/health", timeout=10).json() == {"status": "ok"}
    assert server.workers() == workers, "a worker died or was replaced"


def hang_up_mid_upload(server: LiveServer, path: str, body: bytes, cookie: str = "") -> None:
    """Send the headers and part of a multipart body (claiming all of it), then disconnect."""
    host = server.url.removeprefix("http://")
    address, port = host.split(":")
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {MULTIPART}\r\n"
            f"Content-Length: {len(body)}\r\n" + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n")
    with socket.create_connection((address, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + body[:len(body) // 3])


def test_client_gone_mid_upload_leaves_nothing(server: LiveServer, tmp_path: Path) -> None:
    session, _ = browser_session(server, keep=True)
    cookie = "; ".join(f"{name}={value}" for name, value in session.cookies.items())
    before = files_under(server.uploads)
    workers = server.workers()
    photo = file_part(jpeg() * 20, "big.jpg")[0]  # about 1 MiB: it is still arriving when we leave
    video = file_part(small_video(tmp_path, frames=60), "clip.avi")[0]
    for path, body in (("/api/v1/analyze", photo), ("/api/v1/videos", video), ("/predict", photo)):
        hang_up_mid_upload(server, path, body, cookie)
    time.sleep(1.5)
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
    assert files_under(server.uploads) == before, "a broken upload left files behind"
    assert server.workers() == workers


def test_job_of_a_client_that_left_is_finished_then_swept(server: LiveServer, tmp_path: Path) -> None:
    """A client uploads a video and leaves without ever asking for it: the job runs to its end
    and, not kept, is swept once idle past the job lifetime: no orphan folder stays."""
    session, _ = browser_session(server, keep=False)
    created = post(session, f"{server.url}/api/v1/videos", file_part(small_video(tmp_path), "gone.avi"))
    assert created.status_code == 202
    job_dir = server.uploads / "jobs" / created.json()["id"]
    deadline = time.monotonic() + 60
    while job_dir.exists() and time.monotonic() < deadline:
        requests.get(f"{server.url}/health", timeout=10)  # requests are what start the sweep
        time.sleep(0.5)
    assert not job_dir.exists(), "the abandoned job was not swept"


def test_kept_results_survive_a_restart(server: LiveServer, tmp_path: Path) -> None:
    session, _ = browser_session(server, keep=True)
    created = post(session, f"{server.url}/api/v1/videos", file_part(small_video(tmp_path), "kept.avi"))
    assert created.status_code == 202
    job = created.json()["url"]
    deadline = time.monotonic() + 60
    state: dict = {}
    while state.get("status") != "done" and time.monotonic() < deadline:
        state = session.get(server.url + job, timeout=30).json()
        time.sleep(0.3)
    assert state["status"] == "done"

    server.stop()
    server.start()  # a new process, a new port, the same folders (and so the same secret key)
    after = session.get(server.url + job, timeout=30)
    assert after.status_code == 200 and after.json()["results"] == state["results"]
    frame = session.get(server.url + job + "/frames/0.jpg", timeout=30)
    assert frame.status_code == 200 and frame.headers["Content-Type"] == "image/jpeg"
    assert requests.get(server.url + job + "/frames/0.jpg", timeout=30).status_code == 404  # not yours
    assert session.delete(server.url + job, timeout=30).status_code == 200


def test_a_refused_upload_leaves_the_connection_usable(server: LiveServer) -> None:
    """Answered 403 before its 1 MB body was read, an upload left a closed connection behind
    (gunicorn drains 64 KiB, then closes it, after an answer that said keep-alive): the
    client's next request on it failed about every other time."""
    body = os.urandom(1 << 20)
    for _ in range(6):
        session = requests.Session()
        session.get(f"{server.url}/", timeout=30)  # the session cookie: the origin check applies
        refused = session.post(f"{server.url}/api/v1/analyze", files={"file": ("a.jpg", body)},
                               headers={"Origin": "https://evil.example"}, timeout=30)
        assert refused.status_code == 403
        assert session.get(f"{server.url}/health", timeout=30).status_code == 200


def test_a_client_that_stops_sending_gets_its_answer_and_holds_no_thread(server: LiveServer) -> None:
    """Reading a refused body to its end must not wait on a client that stopped sending: its
    404 comes at once, and the server's four threads are free again within seconds."""
    from urllib.parse import urlsplit

    address = urlsplit(server.url)
    stalled = []
    for _ in range(6):  # more than the worker's threads
        sock = socket.create_connection((address.hostname, address.port), timeout=10)
        sock.sendall(b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"
                     + os.urandom(200_000))
        stalled.append(sock)
    try:
        for sock in stalled:
            assert sock.recv(64).startswith(b"HTTP/1.1 404")
        assert requests.get(f"{server.url}/health", timeout=15).status_code == 200
    finally:
        for sock in stalled:
            sock.close()


def test_security_headers_and_cookie_over_http(server: LiveServer) -> None:
    response = requests.get(f"{server.url}/", timeout=30)
    headers = response.headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "same-origin"
    assert headers["Permissions-Policy"].startswith("camera=(self)")
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_short_mixed_load_gets_no_5xx(server: LiveServer, tmp_path: Path) -> None:
    """bench/bench_load.py's client loop, briefly: photos, live frames and a video job at once.
    (A test of the bench tool itself, so it imports it.)"""
    from bench.bench_load import latency_rows, run_load

    recorder = run_load(server.url, clients=4, videos=1, seconds=4, folder=tmp_path)
    every = {row["kind"]: row for row in latency_rows(recorder, 4)}["all"]
    assert every["requests"] > 4 and every["5xx"] == 0 and every["no_answer"] == 0
    assert every["other_non_2xx"] == 0
    assert [job["status"] for job in recorder.jobs] == ["done"]


def test_untrusted_media_over_http_the_worker_survives_and_memory_stays_flat(server: LiveServer,
                                                                              tmp_path: Path) -> None:
    """Issue 12's hostile set, each case twice, against gunicorn: a bottom-up AVI (which aborts
    OpenCV's FFmpeg reader), a JPEG with 6,000 empty scans, a 200,000 x 200 PNG, JSON nested
    100,000 deep, a 50 MiB chunked JSON body. Same worker at the end, RSS at most 50 MiB up."""
    session, _ = browser_session(server, keep=False)
    assert post(session, f"{server.url}/api/v1/analyze", file_part(jpeg(), "warm.jpg")).status_code == 200
    workers = server.workers()
    before = rss_mib(workers[0])
    deep = (b"[" * 100_000, "application/json")
    cases = [("/api/v1/videos", file_part(bottom_up_avi(), "capture.avi"), {422, 202}),
             ("/api/v1/analyze", file_part(jpeg_with_empty_scans(6000, side=1024), "scans.jpg"), {422}),
             ("/api/v1/analyze", file_part(thin_png(200_000, 200), "thin.png"), {413}),
             ("/predict", file_part(thin_png(200_000, 200), "thin.png"), {413}),
             ("/api/v1/analyze", deep, {400})]
    for _ in range(2):
        for route, body, statuses in cases:
            response = post(session, server.url + route, body)
            assert response.status_code in statuses, (route, response.text[:300])
        chunks = (b"A" * 2**20 for _ in range(50))
        chunked = requests.post(f"{server.url}/api/v1/analyze", data=chunks, timeout=60,
                                headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413
    assert requests.get(f"{server.url}/health", timeout=10).json() == {"status": "ok"}
    assert server.workers() == workers, "a worker died or was replaced"
    grown = rss_mib(workers[0]) - before
    print(f"worker RSS before {before:.0f} MiB, after the hostile set {before + grown:.0f} MiB")
    assert grown <= 50, f"the worker kept {grown:.0f} MiB"
