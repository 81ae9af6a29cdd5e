"""Slow clients against gunicorn as ``make run`` and the Procfile start it: ten connections that
send a photo's body a byte a second must not keep ``/health`` or a real photo from an answer.

(Issue 25: with 2 workers x 4 threads and no deadline, ten such clients took the server down.)
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import requests
from live_server import start_gunicorn, stop_gunicorn, wait_ready

SLOW_CLIENTS = 10
SLOW_SECONDS = 14  # past the 10 s grace, after which a byte a second is cut off


def slow_upload(url: str, stop: threading.Event, outcomes: list[str]) -> None:
    """POST a photo's multipart body one byte a second until cut off or told to stop."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /api/v1/analyze HTTP/1.1\r\nHost: " + host.encode()
                     + b"\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     + b"Content-Length: 100000\r\n\r\n--b\r\n")
        sock.settimeout(1.0)
        while not stop.is_set():
            try:
                answer = sock.recv(200)
            except TimeoutError:
                answer = None
            except OSError:
                outcomes.append("closed")
                return
            if answer is not None:
                outcomes.append(answer.split(b"\r\n", 1)[0].decode() if answer else "closed")
                return
            try:
                sock.sendall(b"x")
            except OSError:
                outcomes.append("closed")
                return
    outcomes.append("still sending")


def test_slow_clients_do_not_starve_health_or_a_photo(tmp_path: Path, astronaut_jpeg: bytes) -> None:
    process, url = start_gunicorn(2, 16, tmp_path)  # gunicorn.conf.py's defaults
    try:
        wait_ready(url, process)
        stop, outcomes = threading.Event(), []
        clients = [threading.Thread(target=slow_upload, args=(url, stop, outcomes))
                   for _ in range(SLOW_CLIENTS)]
        for client in clients:
            client.start()
        time.sleep(1.0)
        slowest, photo_seconds, started = 0.0, None, time.monotonic()
        while time.monotonic() - started < SLOW_SECONDS:
            begun = time.monotonic()
            assert requests.get(f"{url}/health", timeout=2).status_code == 200
            slowest = max(slowest, time.monotonic() - begun)
            if photo_seconds is None:
                answer = requests.post(f"{url}/api/v1/analyze", files={"file": ("a.jpg", astronaut_jpeg)},
                                       timeout=10)
                assert answer.status_code == 200 and answer.json()["faces"]
                photo_seconds = time.monotonic() - begun
            time.sleep(0.5)
        stop.set()
        for client in clients:
            client.join(30)
        assert slowest < 2.0 and photo_seconds < 10.0
        # Each slow client was answered 408 (or its connection closed) once past the grace.
        assert len(outcomes) == SLOW_CLIENTS and "still sending" not in outcomes, outcomes
        assert any(outcome.startswith("HTTP/1.1 408") for outcome in outcomes), outcomes
    finally:
        stop_gunicorn(process)
