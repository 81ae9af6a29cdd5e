"""Video analysis speed: frames analysed per second, and decoding alone, at several sampling rates.

Uses a video you give (``--video``) or writes one from scikit-image's astronaut photo (a real
face drifting across the frame). Prints a table; not a test.

    python bench/bench_video.py
    python bench/bench_video.py --video clip.mp4 --rates 1,2,5,10
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from faceinsight.models import get_models
from faceinsight.video import analyze_video, probe, sampled_frames


def make_video(path: Path, seconds: float, fps: float, side: int) -> Path:
    """Write an MJPG .avi of the astronaut drifting sideways.

    :param path: the file.
    :param seconds: its length.
    :param fps: its frame rate.
    :param side: frame width and height in pixels.
    """
    from skimage import data

    base = cv2.cvtColor(cv2.resize(data.astronaut(), (side, side)), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (side, side))
    for i in range(int(seconds * fps)):
        writer.write(np.roll(base, i * 2, axis=1))
    writer.release()
    return path


def bench(path: Path, rate: float) -> tuple[int, float, float]:
    """(frames analysed, seconds analysing, seconds only decoding) at one sampling rate."""
    started = time.perf_counter()
    decoded = sum(1 for _ in sampled_frames(str(path), rate))
    decode_s = time.perf_counter() - started
    started = time.perf_counter()
    results = analyze_video(str(path), rate, max_seconds=1e9, max_frames=10**9)
    analyse_s = time.perf_counter() - started
    assert len(results["frames"]) == decoded
    return decoded, analyse_s, decode_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, help="a video file (default: a generated astronaut clip)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the generated clip")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of the generated clip")
    parser.add_argument("--side", type=int, default=640, help="frame size of the generated clip")
    parser.add_argument("--rates", default="1,2,5", help="sampling rates (analysed frames per second)")
    args = parser.parse_args(argv)
    get_models()  # load once, outside the timings
    with tempfile.TemporaryDirectory(prefix="faceinsight-bench-") as folder:
        path = args.video or make_video(Path(folder) / "astronaut.avi", args.seconds, args.fps, args.side)
        info = probe(str(path))
        print(f"{path.name}: {info.width}x{info.height}, {info.fps:g} frames/s, {info.duration_s:.1f} s")
        print(f"{'rate':>6} {'frames':>7} {'analyse s':>10} {'frames/s':>9} {'x realtime':>10} "
              f"{'decode-only frames/s':>21}")
        for rate in (float(v) for v in args.rates.split(",")):
            frames, analyse_s, decode_s = bench(path, rate)
            print(f"{rate:>6g} {frames:>7} {analyse_s:>10.2f} {frames / analyse_s:>9.1f} "
                  f"{info.duration_s / analyse_s:>10.1f} {frames / decode_s:>21.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
