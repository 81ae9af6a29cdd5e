"""Load test: many concurrent clients mixing photos, live-mode frames and video jobs.

Starts gunicorn as the Procfile does (on a free loopback port, throwaway upload and instance
folders) unless ``--url`` points at a running server. After a warm-up, a bounded client loop
runs for ``--seconds``: each client picks a full photo or a downscaled live-mode frame at random
(seeded), and ``--videos`` clients each upload one video, poll it to the end and download its
CSV. A sampler reads every worker's resident memory (RSS) once a second.

Reports, per kind of request: count, 5xx, other non-2xx, connection errors, p50/p95/p99/max
latency; and per worker: RSS at the start, mean over the first and the last third of the run,
and the peak, so growth after warm-up shows. Exits 1 on any 5xx or connection error.

Then (``--hostile``, default 2 rounds) it sends issue 12's hostile set (a bottom-up AVI that
crashes OpenCV's FFmpeg reader, a JPEG with 6,000 empty scans, a 200,000 x 200 PNG, JSON nested
100,000 deep, a 50 MiB chunked body) and reports each worker's RSS before and after it; exits 1
when a worker died, a request got a 5xx or no answer, or a worker kept more than 50 MiB.

    python -m bench.bench_load                           # 16 clients, 45 s, 2 video jobs
    python -m bench.bench_load --clients 32 --seconds 60 --json load.json
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.bench_api import percentile, test_image
from tests.web.live_server import rss_mib, start_gunicorn, stop_gunicorn, wait_ready, worker_pids

LIVE_SHARE = 0.6  # the rest are full photos
VIDEO_SECONDS, VIDEO_FPS, VIDEO_SIDE, VIDEO_SAMPLE_FPS = 10.0, 10.0, 320, 2.0


@dataclass
class Sample:
    """One finished request."""

    kind: str
    status: int  # 0: no answer (connection error or timeout)
    latency_ms: float


@dataclass
class Recorder:
    """What every client thread saw, guarded by a lock."""

    samples: list[Sample] = field(default_factory=list)
    jobs: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, status: int, started: float) -> None:
        with self.lock:
            self.samples.append(Sample(kind, status, (time.perf_counter() - started) * 1000))


def timed(recorder: Recorder, kind: str, call) -> requests.Response | None:
    """Run one request, recording its status (0 when it got no answer) and latency."""
    started = time.perf_counter()
    try:
        response = call()
    except requests.RequestException:
        recorder.add(kind, 0, started)
        return None
    recorder.add(kind, response.status_code, started)
    return response


def image_client(url: str, images: dict[str, bytes], deadline: float, seed: int, recorder: Recorder) -> None:
    """Send live frames and photos, chosen at random, until the deadline."""
    rng = random.Random(seed)
    session = requests.Session()
    while time.monotonic() < deadline:
        kind = "live frame" if rng.random() < LIVE_SHARE else "photo"
        files = {"file": ("live.jpg" if kind == "live frame" else "photo.jpg", images[kind], "image/jpeg")}
        timed(recorder, kind, functools.partial(session.post, f"{url}/api/v1/analyze",
                                                data={"store": "false"}, files=files, timeout=120))


def video_client(url: str, video: bytes, deadline: float, recorder: Recorder) -> None:
    """Upload one video, poll it to the end, download its CSV, then delete it."""
    session = requests.Session()
    started = time.monotonic()
    created = timed(recorder, "video upload", lambda: session.post(
        f"{url}/api/v1/videos", data={"sample_fps": str(VIDEO_SAMPLE_FPS)}, timeout=120,
        files={"file": ("load.avi", video, "video/x-msvideo")}))
    if created is None or created.status_code != 202:
        return
    job_url = url + created.json()["url"]
    state: dict = {}
    while time.monotonic() < deadline + 120:  # a started job is followed to its end
        polled = timed(recorder, "video status", lambda: session.get(job_url, timeout=60))
        state = polled.json() if polled is not None and polled.ok else state
        if state.get("status") in ("done", "failed", "cancelled"):
            break
        time.sleep(0.5)
    if state.get("status") == "done":
        timed(recorder, "video csv", lambda: session.get(job_url + "/results.csv", timeout=60))
    with recorder.lock:
        recorder.jobs.append({"status": state.get("status"), "error": state.get("error"),
                              "frames": state.get("frames_analyzed"),
                              "seconds": round(time.monotonic() - started, 1)})
    timed(recorder, "video delete", lambda: session.delete(job_url, timeout=60))


def sample_memory(master: int, stop: threading.Event, readings: dict[int, list[tuple[float, float]]]) -> None:
    """Every second, each worker's RSS: ``readings[pid] = [(time, MiB), ...]``."""
    started = time.monotonic()
    while not stop.wait(1.0):
        for pid in worker_pids(master):
            value = rss_mib(pid)
            if value is not None:
                readings.setdefault(pid, []).append((time.monotonic() - started, value))


def make_video(folder: Path) -> bytes:
    """A 10 s MJPG clip of the astronaut drifting (see bench_video.py)."""
    from bench.bench_video import make_video as write

    return write(folder / "load.avi", VIDEO_SECONDS, VIDEO_FPS, VIDEO_SIDE).read_bytes()


def run_load(url: str, clients: int, videos: int, seconds: float, folder: Path) -> Recorder:
    """Run the mixed client loop for ``seconds``; returns what it recorded."""
    images = {"photo": test_image("photo"), "live frame": test_image("live")}
    video = make_video(folder)
    recorder = Recorder()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=image_client, args=(url, images, deadline, seed, recorder))
               for seed in range(clients)]
    threads += [threading.Thread(target=video_client, args=(url, video, deadline, recorder))
                for _ in range(videos)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return recorder


def latency_rows(recorder: Recorder, seconds: float) -> list[dict]:
    """One row per kind of request, and one for all of them."""
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for sample in recorder.samples:
        by_kind[sample.kind].append(sample)
    by_kind["all"] = list(recorder.samples)
    rows = []
    for kind, samples in by_kind.items():
        answered = [s.latency_ms for s in samples if s.status]
        rows.append({
            "kind": kind, "requests": len(samples), "per_s": round(len(samples) / seconds, 2),
            "5xx": sum(1 for s in samples if s.status >= 500),
            "other_non_2xx": sum(1 for s in samples if 0 < s.status < 500 and not 200 <= s.status < 300),
            "no_answer": sum(1 for s in samples if s.status == 0),
            **{f"p{q}_ms": round(percentile(answered, q)) if answered else None for q in (50, 95, 99)},
            "max_ms": round(max(answered)) if answered else None,
        })
    return rows


def memory_rows(readings: dict[int, list[tuple[float, float]]]) -> list[dict]:
    """Per worker: RSS at the start, mean of the first and last third, peak, growth."""
    rows = []
    for pid, series in sorted(readings.items()):
        values = [mib for _, mib in series]
        third = max(1, len(values) // 3)
        first, last = statistics.fmean(values[:third]), statistics.fmean(values[-third:])
        rows.append({"worker": pid, "samples": len(values), "start_mib": round(values[0], 1),
                     "first_third_mib": round(first, 1), "last_third_mib": round(last, 1),
                     "peak_mib": round(max(values), 1), "growth_mib": round(last - first, 1),
                     "growth_pct": round((last - first) / first * 100, 1)})
    return rows


def markdown(rows: list[dict]) -> str:
    """A list of same-keyed dicts as a Markdown table."""
    if not rows:
        return "(none)"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join("" if row[k] is None else str(row[k]) for k in head) + " |" for row in rows]
    return "\n".join(lines)


HOSTILE_GROWTH_MIB = 50.0  # the most a worker may keep after the hostile set


def hostile_requests() -> list[tuple[str, str, dict]]:
    """Issue 12's hostile set as ``(label, route, requests.post keyword arguments)``."""
    from tests.web.media_bombs import bottom_up_avi, jpeg_with_empty_scans, thin_png

    def part(data: bytes, name: str) -> dict:
        return {"files": {"file": (name, data)}}

    return [
        ("bottom-up AVI", "/api/v1/videos", part(bottom_up_avi(), "capture.avi")),
        ("JPEG, 6,000 empty scans", "/api/v1/analyze", part(jpeg_with_empty_scans(6000, 1024), "s.jpg")),
        ("PNG 200,000 x 200", "/api/v1/analyze", part(thin_png(200_000, 200), "thin.png")),
        ("PNG 200,000 x 200", "/predict", part(thin_png(200_000, 200), "thin.png")),
        ("JSON nested 100,000 deep", "/api/v1/analyze",
         {"data": b"[" * 100_000, "headers": {"Content-Type": "application/json"}}),
        ("50 MiB chunked JSON", "/api/v1/analyze",
         {"data": (b"A" * 2**20 for _ in range(50)), "headers": {"Content-Type": "application/json"}}),
    ]


def run_hostile(url: str, master: int | None, rounds: int) -> tuple[list[dict], list[dict]]:
    """Send the hostile set ``rounds`` times; returns (one row per request, RSS per worker).

    :param url: the server.
    :param master: gunicorn's pid (None: a server we did not start, no memory figures).
    :param rounds: how many times the whole set is sent.
    """
    pids = worker_pids(master) if master else []
    before = {pid: rss_mib(pid) for pid in pids}
    answers = []
    for _ in range(rounds):
        for label, route, kwargs in hostile_requests():
            started = time.monotonic()
            try:
                status = requests.post(url + route, timeout=120, **kwargs).status_code
            except requests.RequestException:
                status = 0
            answers.append({"request": label, "route": route, "status": status,
                            "ms": round((time.monotonic() - started) * 1000)})
    memory = []
    for pid in pids:
        after = rss_mib(pid)
        start = before[pid] or 0.0
        memory.append({"worker": pid, "alive": after is not None, "before_mib": round(start, 1),
                       "after_mib": None if after is None else round(after, 1),
                       "growth_mib": None if after is None else round(after - start, 1)})
    return answers, memory


def hostile_failed(answers: list[dict], memory: list[dict]) -> bool:
    """A 5xx, no answer, a dead worker or one that kept more than HOSTILE_GROWTH_MIB."""
    return (any(row["status"] == 0 or row["status"] >= 500 for row in answers)
            or any(not row["alive"] or row["growth_mib"] > HOSTILE_GROWTH_MIB for row in memory))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent photo/live clients")
    parser.add_argument("--videos", type=int, default=2, help="clients that each run one video job")
    parser.add_argument("--seconds", type=float, default=45.0, help="length of the measured run")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of warm-up (not counted)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (GUNICORN_THREADS)")
    parser.add_argument("--url", help="load a running server instead (no memory figures)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--hostile", type=int, default=2,
                        help="rounds of the hostile set after the run (0: none)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="faceinsight-load-") as name:
        folder = Path(name)
        process, url = (None, args.url) if args.url else start_gunicorn(args.workers, args.threads, folder)
        readings: dict[int, list[tuple[float, float]]] = {}
        stop = threading.Event()
        try:
            wait_ready(url, process=process)
            run_load(url, args.clients, 0, args.warmup, folder)  # every worker loads its models
            if process is not None:
                sampler = threading.Thread(target=sample_memory, args=(process.pid, stop, readings))
                sampler.start()
            recorder = run_load(url, args.clients, args.videos, args.seconds, folder)
            stop.set()
            answers, hostile_memory = run_hostile(url, process.pid if process else None, args.hostile)
        finally:
            stop.set()
            if process is not None:
                stop_gunicorn(process)
    report = {"clients": args.clients, "videos": args.videos, "seconds": args.seconds,
              "workers": args.workers, "threads": args.threads,
              "latency": latency_rows(recorder, args.seconds), "video_jobs": recorder.jobs,
              "memory": memory_rows(readings), "hostile": answers, "hostile_memory": hostile_memory}
    print(f"\n{args.clients} clients + {args.videos} video jobs for {args.seconds:.0f} s against "
          f"{'gunicorn ' + str(args.workers) + 'x' + str(args.threads) if process else url}")
    for title in ("latency", "video_jobs", "memory", "hostile", "hostile_memory"):
        print(f"\n{title}:\n{markdown(report[title])}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    failures = sum(row["5xx"] + row["no_answer"] for row in report["latency"] if row["kind"] == "all")
    return 1 if failures or hostile_failed(answers, hostile_memory) else 0


if __name__ == "__main__":
    raise SystemExit(main())
