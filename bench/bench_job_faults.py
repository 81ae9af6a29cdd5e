"""Video jobs and storage under faults and greedy clients, against a real gunicorn.

Starts gunicorn (the Procfile's command, 2 workers x 4 threads, on a free loopback port, with
throwaway folders) for each case and prints what happened:

* kill -9 of the worker holding 4 video jobs: how long until every job has finished, how, and
  whether any upload was left on disk;
* one client without a cookie sends 20 videos: how many are accepted, the 429s' Retry-After,
  and whether a fresh session's upload is then accepted;
* one session with "Keep my captures" sends 40 photos of 9.7 MiB: how many are kept, and the
  bytes kept on disk;
* Redis restarted (no persistence) with two video jobs queued and no RQ worker yet: how long
  until both are done once a worker starts (where redis-server is installed).

Not a test: the timings depend on the machine.

    python -m bench.bench_job_faults
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import requests

# The gunicorn launcher the live-server tests use (tests/web/live_server.py), not a second copy.
from tests.web.live_server import ROOT, start_gunicorn, stop_gunicorn, wait_ready
from tests.web.webhelpers import astronaut, encode, free_port, write_video

FINISHED = ("done", "failed", "cancelled")
COMMENT = b"\xff\xfe" + (65535).to_bytes(2, "big") + b"x" * 65533  # one JPEG comment segment


def padded_jpeg(mib: float) -> bytes:
    """The astronaut as a JPEG padded with comment segments to about ``mib`` MiB (a photo the
    size of a phone's, cheap to decode)."""
    jpeg = encode(astronaut())
    count = int((mib * 2**20 - len(jpeg)) / len(COMMENT))
    return jpeg[:2] + COMMENT * count + jpeg[2:]


def poll(session: requests.Session, url: str, jobs: list[dict], limit_s: float) -> list[dict]:
    """Every job's state once all have finished (or ``limit_s`` passed); a connection cut by
    a killed worker is tried again."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            states = [session.get(url + job["url"], headers={"X-Job-Token": job["token"]}, timeout=10).json()
                      for job in jobs]
        except requests.RequestException:
            time.sleep(0.5)
            continue
        if all(state["status"] in FINISHED for state in states) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def submit_videos(url: str, video: bytes, count: int, sample_fps: str) -> tuple[requests.Session, list[dict]]:
    """A fresh session (the page's cookie) that uploads ``video`` ``count`` times; the jobs' JSON."""
    session = requests.Session()
    session.get(url + "/")
    jobs = [session.post(url + "/api/v1/videos", files={"file": ("clip.avi", video)},
                         data={"sample_fps": sample_fps}).json() for _ in range(count)]
    return session, jobs


def case_kill_worker(folder: Path, video: bytes) -> None:
    process, url = start_gunicorn(2, 4, folder, {"FACEINSIGHT_JOB_PER_CLIENT": "10"})
    try:
        wait_ready(url, process)
        session, jobs = submit_videos(url, video, 4, "10")
        time.sleep(2)
        states = [json.loads((folder / "uploads/jobs" / job["id"] / "state.json").read_text())
                  for job in jobs]
        print("kill -9: before,", ", ".join(f"{s['status']} {s['progress']} %" for s in states))
        for pid in {state["runner"]["pid"] for state in states}:
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        ended = poll(session, url, jobs, limit_s=300)
        left = [path for job in jobs for path in (folder / "uploads/jobs" / job["id"]).glob("video*")]
        outcome = Counter(f"{s['status']} ({s.get('note') or s.get('error') or 'first run'})" for s in ended)
        print(f"kill -9: all 4 finished {time.monotonic() - killed:.1f} s after it: {dict(outcome)}; "
              f"uploads left on disk: {len(left)}")
    finally:
        stop_gunicorn(process)


def case_greedy_client(folder: Path, video: bytes) -> None:
    process, url = start_gunicorn(2, 4, folder)
    try:
        wait_ready(url, process)
        codes, retry_after = [], []
        for _ in range(20):
            answer = requests.post(url + "/api/v1/videos", files={"file": ("clip.avi", video)},
                                   data={"sample_fps": "10"})
            codes.append(answer.status_code)
            if answer.status_code == 429:
                retry_after.append(int(answer.headers["Retry-After"]))
        fresh = requests.Session()
        fresh.get(url + "/")
        accepted = fresh.post(url + "/api/v1/videos", files={"file": ("clip.avi", video)}).status_code
        spread = f"{min(retry_after)}-{max(retry_after)} s" if retry_after else "none"
        print(f"20 videos from one cookieless client: {dict(Counter(codes))}, Retry-After {spread}; "
              f"a fresh session's upload: {accepted}")
    finally:
        stop_gunicorn(process)


def case_quota(folder: Path) -> None:
    photo = padded_jpeg(9.7)
    process, url = start_gunicorn(2, 4, folder)
    try:
        wait_ready(url, process)
        session = requests.Session()
        token = re.search(r'name="csrf-token" content="([^"]+)"', session.get(url + "/").text).group(1)
        session.post(url + "/session/privacy", json={"keep": True}, headers={"X-CSRF-Token": token})
        start, answers = time.monotonic(), []
        for number in range(40):
            answer = session.post(url + "/api/v1/analyze", files={"file": (f"{number}.jpg", photo)})
            answers.append(answer.json())
        kept = sum("stored" in answer for answer in answers)
        on_disk = sum(p.stat().st_size for p in (folder / "uploads/captures").rglob("*") if p.is_file())
        print(f"40 x {len(photo) / 2**20:.1f} MiB photos kept by one session in "
              f"{time.monotonic() - start:.1f} s: {kept} kept, {40 - kept} analysed but not kept; "
              f"{on_disk / 2**20:.1f} MiB on disk")
    finally:
        stop_gunicorn(process)


def start_redis(port: int) -> subprocess.Popen:
    """A redis-server without persistence on a loopback port, answering once this returns."""
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def case_redis_restart(folder: Path, video: bytes) -> None:
    if shutil.which("redis-server") is None:
        print("Redis restart: skipped (redis-server is not installed)")
        return
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis = start_redis(port)
    process, url = start_gunicorn(2, 4, folder, {"REDIS_URL": redis_url})
    worker = None
    try:
        wait_ready(url, process)
        session, jobs = submit_videos(url, video, 2, "2")
        redis.terminate()
        redis.wait(timeout=10)
        redis = start_redis(port)  # empty: the queued jobs are gone from it
        restarted = time.monotonic()
        env = {**os.environ, "FACEINSIGHT_UPLOAD_DIR": str(folder / "uploads"), "PYTHONPATH": str(ROOT)}
        command = [str(Path(sys.executable).with_name("rq")), "worker", "--url", redis_url,
                   "--worker-class", "faceinsight.jobs.worker.JobWorker", "faceinsight"]
        worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ended = poll(session, url, jobs, limit_s=300)
        outcome = Counter(f"{s['status']} ({s.get('note') or s.get('error') or 'first run'})" for s in ended)
        print(f"Redis restarted with 2 jobs queued: both finished {time.monotonic() - restarted:.1f} s "
              f"later: {dict(outcome)}")
    finally:
        stop_gunicorn(process)
        for child in (worker, redis):
            if child is not None and child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300,
                        help="frames of the test video (10 fps, all analysed)")
    parser.add_argument("--case", choices=["kill", "greedy", "quota", "redis"], action="append",
                        help="run only these cases (default: all)")
    args = parser.parse_args(argv)
    cases = args.case or ["kill", "greedy", "quota", "redis"]
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory(prefix="faceinsight-bench-") as scratch:
        root = Path(scratch)
        video = write_video(root / "clip.avi", frames=args.frames, fps=10.0, side=320).read_bytes()
        runs = {"kill": lambda: case_kill_worker(root / "kill", video),
                "greedy": lambda: case_greedy_client(root / "greedy", video),
                "quota": lambda: case_quota(root / "quota"),
                "redis": lambda: case_redis_restart(root / "redis", video)}
        for case in cases:
            runs[case]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
