"""Video analysis speed: frames analysed per second, and decoding alone, at several sampling rates.

Uses a video you give (``--video``) or writes one from scikit-image's astronaut photo (a real
face drifting across a 640x480 frame). Each figure is the best of ``--repeat`` runs (the box is
often shared). With ``--release`` (default: the last release) the release's own
``bench/bench_video.py``, taken from git, measures the same clip in the same run, for the ratio.
Prints a table; not a test.

    python -m bench.bench_video
    python -m bench.bench_video --video clip.mp4 --rates 1,2,5,10 --release none
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from faceinsight.images import DEFAULT_MAX_PIXELS
from faceinsight.models import get_models
from faceinsight.video.analysis import analyze_video
from faceinsight.video.decoder import probe, sampled_frames

ROOT = Path(__file__).resolve().parent.parent

RELEASE = "0e5160e"  # the release the issue compares with


def make_video(path: Path, seconds: float, fps: float, width: int, height: int | None = None) -> Path:
    """Write an MJPG .avi of the astronaut (as tall as the frame) drifting sideways.

    :param path: the file.
    :param seconds: its length.
    :param fps: its frame rate.
    :param width: frame width in pixels.
    :param height: frame height in pixels (default: ``width``, a square frame).
    """
    from skimage import data

    height = height or width

    side = min(width, height)
    base = np.zeros((height, width, 3), np.uint8)
    left = (width - side) // 2
    base[(height - side) // 2:(height - side) // 2 + side, left:left + side] = cv2.cvtColor(
        cv2.resize(data.astronaut(), (side, side)), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for i in range(int(seconds * fps)):
        writer.write(np.roll(base, i * 2, axis=1))
    writer.release()
    return path


def bench(path: Path, rate: float, repeat: int = 1) -> tuple[int, float, float]:
    """(frames analysed, seconds analysing, seconds only decoding) at one sampling rate, each
    time the best of ``repeat`` runs. Analysing includes the probe, as an upload's does."""
    decode_s = analyse_s = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        decoded = sum(1 for _ in sampled_frames(str(path), rate, DEFAULT_MAX_PIXELS))
        decode_s = min(decode_s, time.perf_counter() - started)
        started = time.perf_counter()
        results = analyze_video(str(path), rate, max_seconds=1e9, max_frames=10**9)
        analyse_s = min(analyse_s, time.perf_counter() - started)
        assert len(results["frames"]) == decoded
    return decoded, analyse_s, decode_s


def release_rows(ref: str, video: Path, rates: str, repeat: int) -> dict[float, float]:
    """The release's analyse seconds per rate on the same clip (best of ``repeat`` runs), measured
    by the release's own bench/bench_video.py with its own code and models, taken from git."""
    best: dict[float, float] = {}
    with tempfile.TemporaryDirectory(prefix="faceinsight-release-") as folder:
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        env = {key: value for key, value in os.environ.items() if not key.startswith("FACEINSIGHT_")}
        env["PYTHONPATH"] = folder
        for _ in range(repeat):
            output = subprocess.run([sys.executable, "bench/bench_video.py", "--video", str(video),
                                     "--rates", rates], cwd=folder, env=env, check=True,
                                    capture_output=True, text=True).stdout
            for line in output.splitlines():
                fields = line.split()
                try:
                    rate, seconds = float(fields[0]), float(fields[2])
                except (IndexError, ValueError):
                    continue
                best[rate] = min(best.get(rate, float("inf")), seconds)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, help="a video file (default: a generated astronaut clip)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the generated clip")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the generated clip")
    parser.add_argument("--width", type=int, default=640, help="frame width of the generated clip")
    parser.add_argument("--height", type=int, default=480, help="frame height of the generated clip")
    parser.add_argument("--rates", default="1,2,5", help="sampling rates (analysed frames per second)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the best is shown)")
    parser.add_argument("--release", default=RELEASE, help="git ref to compare with ('none' to skip)")
    args = parser.parse_args(argv)
    get_models()  # load once, outside the timings
    with tempfile.TemporaryDirectory(prefix="faceinsight-bench-") as folder:
        path = args.video or make_video(Path(folder) / "astronaut.avi", args.seconds, args.fps,
                                        args.width, args.height)
        info = probe(str(path), DEFAULT_MAX_PIXELS)
        print(f"{path.name}: {info.width}x{info.height}, {info.fps:g} frames/s, {info.duration_s:.1f} s; "
              f"best of {args.repeat}")
        rows = []
        for rate in (float(v) for v in args.rates.split(",")):
            bench(path, rate, 1)  # warm the caches (and the child's imports)
            rows.append((rate, *bench(path, rate, args.repeat)))
        release = {}
        if args.release.lower() != "none":
            release = release_rows(args.release, path, args.rates, args.repeat)
    print(f"{'rate':>6} {'frames':>7} {'analyse s':>10} {'frames/s':>9} {'x realtime':>10} "
          f"{'decode-only frames/s':>21}" + (f" {'release x realtime':>19} {'ratio':>6}" if release else ""))
    for rate, frames, analyse_s, decode_s in rows:
        line = (f"{rate:>6g} {frames:>7} {analyse_s:>10.2f} {frames / analyse_s:>9.1f} "
                f"{info.duration_s / analyse_s:>10.1f} {frames / decode_s:>21.1f}")
        if rate in release:
            line += f" {info.duration_s / release[rate]:>19.1f} {release[rate] / analyse_s:>5.1f}x"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
