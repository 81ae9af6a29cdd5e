"""A real gunicorn on loopback, started as the Procfile does, for the tests that need HTTP.

(The tests' own copy of bench/bench_api.py's launcher: the tests do not depend on bench/.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.web.webhelpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def start_gunicorn(workers: int, threads: int, folder: Path, extra_env: dict[str, str] | None = None,
                   output: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start gunicorn on this checkout's code; returns the process and its URL.

    :param workers: WEB_CONCURRENCY.
    :param threads: GUNICORN_THREADS.
    :param folder: a private folder for uploads and the instance key.
    :param extra_env: more environment variables (limits, ``FACEINSIGHT_MODELS``...).
    :param output: where gunicorn's stdout and stderr go (a file descriptor or ``subprocess.PIPE``).
    """
    port = free_port()
    env = {**os.environ, "WEB_CONCURRENCY": str(workers), "GUNICORN_THREADS": str(threads),
           "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_LOGLEVEL": "warning",
           "FACEINSIGHT_UPLOAD_DIR": str(folder / "uploads"),
           "FACEINSIGHT_INSTANCE_DIR": str(folder / "instance"),
           "PYTHONPATH": str(ROOT),  # this checkout's code, whichever one is installed
           **(extra_env or {})}
    if "REDIS_URL" not in (extra_env or {}):
        env.pop("REDIS_URL", None)  # the in-process runner, unless the caller asks for Redis
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--config", "gunicorn.conf.py",
         "--access-logfile", "/dev/null", "faceinsight.web:create_app()"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=output, stderr=subprocess.STDOUT if output is not None else None)
    return process, f"http://127.0.0.1:{port}"


def stop_gunicorn(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Stop a gunicorn from :func:`start_gunicorn` (its whole process group), gracefully."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until /ready answers 200; fail at once if the server exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server at {url} exited with status {process.returncode}"
        try:
            if requests.get(f"{url}/ready", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the server at {url} did not become ready in {timeout:.0f} s")


def worker_pids(master: int) -> list[int]:
    """The pids of a process's children (gunicorn's workers), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            children.append(int(stat.parent.name))
    return sorted(children)


def rss_mib(pid: int) -> float | None:
    """A process's resident memory in MiB, or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def slow_upload(url: str, stop: threading.Event, outcomes: list[str]) -> None:
    """POST a photo's multipart body one byte a second until answered, cut off or told to stop;
    appends the answer's status line, "closed" or "still sending" to ``outcomes``."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /api/v1/analyze HTTP/1.1\r\nHost: " + host.encode()
                     + b"\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     + b"Content-Length: 100000\r\n\r\n--b\r\n")
        sock.settimeout(1.0)
        while not stop.is_set():
            try:
                answer = sock.recv(200)
                outcomes.append(answer.split(b"\r\n", 1)[0].decode() if answer else "closed")
                return
            except TimeoutError:
                pass
            except OSError:
                outcomes.append("closed")
                return
            try:
                sock.sendall(b"x")
            except OSError:
                outcomes.append("closed")
                return
    outcomes.append("still sending")


@dataclass
class SlowTrial:
    """What the other clients met while slow clients sent their bodies (:func:`slow_clients_trial`)."""

    slowest_health_s: float = 0.0
    photo_s: float = float("inf")
    outcomes: list[str] = field(default_factory=list)


def slow_clients_trial(url: str, photo: bytes, clients: int = 10, seconds: float = 14.0) -> SlowTrial:
    """``clients`` connections send a photo's body a byte a second for ``seconds``; meanwhile
    ``/health`` is asked every half second (each within 2 s) and ``photo`` analysed once."""
    import requests

    trial, stop = SlowTrial(), threading.Event()
    threads = [threading.Thread(target=slow_upload, args=(url, stop, trial.outcomes)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            begun = time.monotonic()
            assert requests.get(f"{url}/health", timeout=2).status_code == 200
            trial.slowest_health_s = max(trial.slowest_health_s, time.monotonic() - begun)
            if trial.photo_s == float("inf"):
                answer = requests.post(f"{url}/api/v1/analyze", files={"file": ("a.jpg", photo)}, timeout=10)
                assert answer.status_code == 200 and answer.json()["faces"], answer.text
                trial.photo_s = time.monotonic() - begun
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    return trial
