"""Requests per second and latency of ``POST /api/v1/analyze`` under concurrent clients.

Starts gunicorn (the Procfile's command, on a free loopback port, with throwaway upload and
instance folders) unless ``--url`` points at a running server, then runs a bounded client loop
for each concurrency level and prints a table. Not a test: the figures depend on the machine.

    python -m bench.bench_api                       # 1, 4 and 8 clients, 15 s each
    python -m bench.bench_api --clients 16 --seconds 30 --mode live
    python -m bench.bench_api --url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests
from PIL import Image

# The gunicorn launcher the live-server tests use (tests/web/live_server.py), not a second copy.
from tests.web.live_server import start_gunicorn, stop_gunicorn, wait_ready

LIVE_SIDE = 360  # the page's live mode sends frames downscaled to this longer side


@dataclass
class Run:
    """What one concurrency level measured."""

    clients: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0  # connection errors and timeouts


def test_image(mode: str) -> bytes:
    """The astronaut photo as JPEG (full 512 px for 'photo', downscaled for 'live').

    :param mode: 'photo' or 'live'.
    """
    try:
        from skimage import data

        rgb = data.astronaut()
    except ImportError:  # serving-only installs: a synthetic image (no face, still a full pass)
        rgb = np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    if mode == "live":
        image.thumbnail((LIVE_SIDE, LIVE_SIDE))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85 if mode == "photo" else 75)
    return out.getvalue()


def client_loop(url: str, image: bytes, deadline: float, run: Run, lock: threading.Lock) -> None:
    """One client: send the image again and again until the deadline."""
    session = requests.Session()
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            response = session.post(f"{url}/api/v1/analyze", data={"store": "false"}, timeout=60,
                                    files={"file": ("bench.jpg", image, "image/jpeg")})
        except requests.RequestException:
            with lock:
                run.failures += 1
            continue
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            run.latencies_ms.append(elapsed)
            run.statuses[response.status_code] = run.statuses.get(response.status_code, 0) + 1


def measure(url: str, image: bytes, clients: int, seconds: float) -> Run:
    """Run ``clients`` concurrent clients for ``seconds``."""
    run = Run(clients)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=client_loop, args=(url, image, deadline, run, lock))
               for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.monotonic() - started
    return run


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(values, q))


def print_table(runs: list[Run], mode: str, image_bytes: int) -> None:
    print(f"\nPOST /api/v1/analyze, {mode} image ({image_bytes / 1024:.0f} KiB JPEG)")
    print(f"{'clients':>7} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'non-200':>7} {'5xx':>4} {'errors':>6}")
    for run in runs:
        lat = run.latencies_ms
        total = len(lat)
        non_ok = total - run.statuses.get(200, 0)
        server_errors = sum(n for code, n in run.statuses.items() if code >= 500)
        print(f"{run.clients:>7} {total:>8} {total / run.seconds:>7.1f} {percentile(lat, 50):>8.0f} "
              f"{percentile(lat, 95):>8.0f} {percentile(lat, 99):>8.0f} {max(lat, default=0):>8.0f} "
              f"{non_ok:>7} {server_errors:>4} {run.failures:>6}")
    if runs and runs[0].latencies_ms:
        print(f"(single-client mean {statistics.fmean(runs[0].latencies_ms):.0f} ms)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,8", help="comma-separated concurrency levels")
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each level")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up (not counted)")
    parser.add_argument("--mode", choices=("photo", "live", "both"), default="photo",
                        help="photo: 512 px astronaut; live: a downscaled live-mode frame")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (GUNICORN_THREADS)")
    parser.add_argument("--url", help="benchmark a running server instead of starting gunicorn")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    levels = [int(v) for v in args.clients.split(",") if v.strip()]
    process = None
    with tempfile.TemporaryDirectory(prefix="faceinsight-bench-") as folder:
        url = args.url
        if url is None:
            process, url = start_gunicorn(args.workers, args.threads, Path(folder))
            print(f"gunicorn: {args.workers} workers x {args.threads} threads (gthread) at {url}")
        try:
            wait_ready(url, process=process)
            modes = ("photo", "live") if args.mode == "both" else (args.mode,)
            for mode in modes:
                image = test_image(mode)
                # Warm-up: every worker loads its models on its first request.
                measure(url, image, max(levels), args.warmup)
                runs = [measure(url, image, clients, args.seconds) for clients in levels]
                print_table(runs, mode, len(image))
        finally:
            if process is not None:
                stop_gunicorn(process)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
