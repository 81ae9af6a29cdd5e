"""Faces found in large photos: BlazeFace on the whole photo, with its first tiles, and with the
finer tiles too, on training-split UTKFace faces feathered into photos (never the validation
split, which measures the shipped models).

    python -m bench.bench_large_photos --utkface DATA/utkface [--seed 11] [--photos 12]

Not a timed test: the times are one thread's on this machine, side by side in one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from faceinsight import images
from faceinsight.detectors import BlazeFaceDetector
from faceinsight.eval import scenes
from faceinsight.models import MODELS_DIR, FaceModels

# name, photo size (width, height), face sides in pixels, faces a photo, photos in relation to --photos
SCENES = (("4000x3000, a crowd", (4000, 3000), (80, 300), 20, 1.0),
          ("3000x2000, a crowd", (3000, 2000), (90, 150), 20, 1.0),
          ("4032x3024, a few faces", (4032, 3024), (200, 900), 3, 1.0),
          ("4032x3024, no face", (4032, 3024), (200, 900), 0, 1.25),
          ("2000x1500, a group", (2000, 1500), (100, 450), 5, 2.0))


def training_chips(folder: Path, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    from faceinsight.datasets import utkface_names

    names = utkface_names(folder, validation=False)
    return [images.load_image(folder / name) for name in rng.choice(names, count, replace=False)]


def scene(chips: list[np.ndarray], size: tuple[int, int], sides: tuple[int, int], faces: int,
          rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """A JPEG-decoded photo of ``faces`` chips feathered at random, non-overlapping places."""
    width, height = size
    photo = scenes.background(rng, size).astype(np.float32)
    squares: list = []
    for _ in range(faces):
        for _ in range(50):
            side = min(int(np.exp(rng.uniform(*np.log(sides)))), height - 2, width - 2)
            x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
            if all(x + side < a or a + c < x or y + side < b or b + c < y for a, b, c in squares):
                squares.append((x, y, side))
                break
    for x, y, side in squares:
        chip = chips[int(rng.integers(0, len(chips)))]
        face = cv2.resize(chip, (side, side), interpolation=cv2.INTER_AREA)
        scenes.feather_onto(photo, face, x, y)
    return images.decode_image(scenes.encode_jpeg(photo.astype(np.uint8))), squares


def measure(detector: BlazeFaceDetector, photos: list) -> str:
    found = placed = false = 0
    times = []
    for photo, squares in photos:
        started = time.perf_counter()
        boxes = detector.detect(photo)
        times.append((time.perf_counter() - started) * 1000)
        matched = scenes.match(boxes, squares)
        found, placed, false = found + len(matched), placed + len(squares), false + len(boxes) - len(matched)
    recall = f"{found / placed:.3f} ({found}/{placed})" if placed else "-"
    return f"recall {recall}, {false / len(photos):.2f} false a photo, {np.median(times):.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utkface", type=Path, required=True, help="the UTKFace folder")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--photos", type=int, default=12, help="photos of each kind (more for some)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    shipped = FaceModels(MODELS_DIR, detector="blazeface").detector
    detectors = {"whole photo": BlazeFaceDetector(shipped.model, tile_from=0),
                 "first tiles": BlazeFaceDetector(shipped.model, fine_from=0),
                 "finer tiles too (shipped)": shipped}
    rng = np.random.default_rng(args.seed)
    chips = training_chips(args.utkface, 800, rng)
    for name, size, sides, faces, share in SCENES:
        photos = [scene(chips, size, sides, faces, rng) for _ in range(round(args.photos * share))]
        print(f"{name} ({len(photos)} photos, faces of {sides[0]}-{sides[1]} px):", flush=True)
        for label, detector in detectors.items():
            print(f"  {label:<26} {measure(detector, photos)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
