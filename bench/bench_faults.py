"""Load and fault benchmark: slow clients and a burst of large photos, against gunicorn as
``make run`` starts it and against the production shape (``make serve``: nginx in front).

- ``slow``: ten connections send a photo's body a byte a second for 30 s; meanwhile ``/health``
  is asked every half second and one photo analysed. Prints the slowest ``/health``, the photo's
  time and what the slow clients got (408 from the app's rate floor; nginx just keeps reading).
- ``burst``: 200 clients post a 38-megapixel photo at once and give up after ``--patience``
  seconds. Prints the answers (200, fast 503s, gave up), the slowest 503, and how long the
  server's workers kept using the CPU after the last client left (abandoned requests are not
  analysed, so this should be about nothing).

    python -m bench.bench_faults                     # both, both shapes
    python -m bench.bench_faults --only slow --shape run
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from tests.web.live_server import (
    ROOT,
    slow_clients_trial,
    start_gunicorn,
    stop_gunicorn,
    wait_ready,
    worker_pids,
)
from tests.web.webhelpers import astronaut, encode, free_port


def start_production(folder: Path) -> tuple[subprocess.Popen, str]:
    """``python -m faceinsight.web.production`` (nginx + gunicorn) on a free port."""
    port = free_port()
    env = {**os.environ, "FACEINSIGHT_UPLOAD_DIR": str(folder / "uploads"), "PYTHONPATH": str(ROOT),
           "FACEINSIGHT_INSTANCE_DIR": str(folder / "instance"), "GUNICORN_LOGLEVEL": "warning",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("REDIS_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "faceinsight.web.production", "--port", str(port)],
                               cwd=ROOT, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}"


def large_photo(megapixels: float = 38.0) -> bytes:
    """A JPEG of about ``megapixels`` (7,100 x 5,350 for 38) with the astronaut in it, under 10 MiB."""
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    ramp = np.linspace(40, 200, width, dtype=np.float32)
    photo = np.repeat(np.repeat(ramp[None, :, None], height, axis=0), 3, axis=2).astype(np.uint8)
    face = astronaut()
    photo[height // 3:height // 3 + 512, width // 2:width // 2 + 512] = face
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds the processes have used, from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def burst(url: str, pids: list[int], photo: bytes, clients: int, patience: float) -> None:
    """``clients`` posts of ``photo`` at once, each giving up after ``patience`` seconds."""
    answers: list[tuple[int, float]] = []
    lock = threading.Lock()

    def post() -> None:
        started = time.monotonic()
        try:
            status = requests.post(f"{url}/api/v1/analyze", files={"file": ("big.jpg", photo)},
                                   timeout=patience).status_code
        except requests.RequestException:
            status = 0
        with lock:
            answers.append((status, time.monotonic() - started))

    threads = [threading.Thread(target=post) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    last_left = time.monotonic()
    counts = Counter("gave up" if status == 0 else status for status, _ in answers)
    busy = [seconds for status, seconds in answers if status == 503]
    before = cpu_seconds(pids)
    time.sleep(10)
    after = cpu_seconds(pids)
    print(f"  {clients} x {len(photo) / 1e6:.1f} MB photos in {last_left - started:.1f} s: "
          f"{dict(counts)}; slowest 503 {max(busy, default=0):.2f} s; "
          f"CPU in the 10 s after the last client left: {after - before:.1f} s")


def run_shape(shape: str, only: str | None, clients: int, patience: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        if shape == "run":
            process, url = start_gunicorn(2, 16, Path(folder), output=subprocess.DEVNULL)
        else:
            process, url = start_production(Path(folder))
        try:
            wait_ready(url, process)
            print(f"{'make run (gunicorn)' if shape == 'run' else 'make serve (nginx + gunicorn)'}:")
            if only in (None, "slow"):
                trial = slow_clients_trial(url, encode(astronaut()), clients=10, seconds=30)
                print(f"  10 slow clients for 30 s: slowest /health {trial.slowest_health_s:.2f} s, "
                      f"a photo in {trial.photo_s:.2f} s; slow clients got {dict(Counter(trial.outcomes))}")
            if only in (None, "burst"):
                gunicorn = process.pid if shape == "run" else _gunicorn_master(process.pid)
                burst(url, worker_pids(gunicorn), large_photo(), clients, patience)
        finally:
            if shape == "run":
                stop_gunicorn(process)
            else:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)


def _gunicorn_master(launcher: int) -> int:
    """The gunicorn master among the launcher's children."""
    for pid in worker_pids(launcher):
        if "gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            return pid
    raise RuntimeError("gunicorn is not running under the launcher")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["slow", "burst"])
    parser.add_argument("--shape", choices=["run", "serve"], action="append")
    parser.add_argument("--clients", type=int, default=200, help="photos in the burst")
    parser.add_argument("--patience", type=float, default=60.0, help="seconds a burst client waits")
    args = parser.parse_args()
    for shape in args.shape or ["run", "serve"]:
        run_shape(shape, args.only, args.clients, args.patience)


if __name__ == "__main__":
    main()
