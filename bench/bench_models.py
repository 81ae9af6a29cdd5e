"""Latency of the shipped models per face, and of a whole 640x480 photo, as a table.

    python bench/bench_models.py [--runs 300] [--models models] [--threads 1]

Not a timed test: figures depend on the machine and on what else runs on it. Per-face rows
time each LiteRT interpreter alone on a pipeline crop (one thread, as served); the photo rows
time the stages of ``faceinsight.analyze.analyze_bytes`` on the astronaut photo scaled and
padded to 640x480 and encoded as JPEG.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faceinsight import pipeline  # noqa: E402
from faceinsight.analyze import analyze_bytes  # noqa: E402
from faceinsight.models import MODELS_DIR, FaceModels  # noqa: E402

PHOTO_SIZE = (640, 480)  # width, height


def photo_640x480() -> bytes:
    """The astronaut scaled to 480 px high, centred on a gray 640x480 canvas, as JPEG bytes."""
    import cv2
    from PIL import Image
    from skimage import data

    width, height = PHOTO_SIZE
    face = cv2.resize(data.astronaut(), (height, height), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 128, np.uint8)
    left = (width - height) // 2
    canvas[:, left:left + height] = face
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def time_ms(function: Callable[[], object], runs: int, warmup: int) -> list[float]:
    """Wall-clock milliseconds of ``runs`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summarise(name: str, samples: list[float]) -> dict:
    """Median, 95th percentile, mean and minimum of a list of milliseconds."""
    return {"name": name, "runs": len(samples), "median_ms": statistics.median(samples),
            "p95_ms": float(np.percentile(samples, 95)), "mean_ms": statistics.fmean(samples),
            "min_ms": min(samples)}


def print_table(rows: list[dict]) -> None:
    """Print rows as a fixed-width text table."""
    width = max(len(r["name"]) for r in rows)
    print(f"{'stage':<{width}}  {'runs':>5}  {'median ms':>9}  {'p95 ms':>8}  {'mean ms':>8}  "
          f"{'min ms':>7}")
    print("-" * (width + 46))
    for r in rows:
        print(f"{r['name']:<{width}}  {r['runs']:>5}  {r['median_ms']:>9.2f}  {r['p95_ms']:>8.2f}  "
              f"{r['mean_ms']:>8.2f}  {r['min_ms']:>7.2f}")


def per_face_rows(models: FaceModels, crops: pipeline.FaceCrops, runs: int, warmup: int) -> list[dict]:
    """Each interpreter alone, then both with the post-processing the product reports."""
    return [
        summarise("age_gender model (128 px crop)",
                  time_ms(lambda: models.age_gender.run(crops.age_gender), runs, warmup)),
        summarise("emotion model (48 px crop)",
                  time_ms(lambda: models.emotion.run(crops.emotion), runs, warmup)),
        summarise("both + post-processing (predict)",
                  time_ms(lambda: models.predict(crops.age_gender, crops.emotion), runs, warmup)),
    ]


def photo_rows(models: FaceModels, jpeg: bytes, runs: int, warmup: int) -> list[dict]:
    """The stages of one 640x480 photo, then the whole of ``analyze_bytes``."""
    image = pipeline.decode_image(jpeg)
    gray = pipeline.to_gray(image)
    faces = analyze_bytes(jpeg, models=models).faces
    if len(faces) != 1:
        raise SystemExit(f"expected one face in the 640x480 photo, found {len(faces)}")
    box = pipeline.detect_faces(gray)[0]
    width, height = PHOTO_SIZE
    return [
        summarise(f"decode JPEG {width}x{height}",
                  time_ms(lambda: pipeline.decode_image(jpeg), runs, warmup)),
        summarise("grayscale + detect (Haar)",
                  time_ms(lambda: pipeline.detect_faces(pipeline.to_gray(image)), runs, warmup)),
        summarise("crops (128 + 48 px)", time_ms(lambda: pipeline.crops_for_box(gray, box), runs, warmup)),
        summarise(f"end to end, {width}x{height} photo (analyze_bytes)",
                  time_ms(lambda: analyze_bytes(jpeg, models=models), runs, warmup)),
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="timed runs per model row")
    parser.add_argument("--photo-runs", type=int, default=60, help="timed runs per photo row")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--models", type=Path, default=MODELS_DIR, help="folder with manifest.json")
    parser.add_argument("--threads", type=int, default=1, help="interpreter and OpenCV threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import cv2

    cv2.setNumThreads(args.threads)
    models = FaceModels(args.models, threads=args.threads)
    jpeg = photo_640x480()
    crops = pipeline.find_faces(pipeline.decode_image(jpeg))[0]
    print(f"Face Insight latency: {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, {args.threads} thread(s), OpenCV {cv2.__version__}")
    print(f"models: {args.models}\n")
    rows = per_face_rows(models, crops, args.runs, args.warmup)
    rows += photo_rows(models, jpeg, args.photo_runs, args.warmup)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
