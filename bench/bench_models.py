"""Speed of today's models and served path against the last release, measured in one run.

    python -m bench.bench_models [--runs 300] [--release 0e5160e] [--threads 1]

Not a timed test: figures depend on the machine and on what else runs on it, so every row is a
ratio of two timings taken side by side. Per-face rows time each LiteRT interpreter alone on
the same crop (one thread, as served; the release's models are read from its git commit). Photo
rows time four 640x480 JPEG photos through ``analyze_bytes`` against the release's path
(Haar at full resolution, 1.4 x box crops) and against one Haar pass at the release's settings.
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

from faceinsight import analyze, crops, images
from faceinsight.analyze import analyze_bytes
from faceinsight.detectors import BlazeFaceDetector, HaarDetector
from faceinsight.images import to_gray
from faceinsight.litert import TFLiteModel
from faceinsight.models import MODELS_DIR, FaceModels, assemble_model, read_manifest

RELEASE = "0e5160e"  # the last release before the calibrated crops, int8 and BlazeFace
RELEASE_HAAR = HaarDetector(max_side=100_000)  # the release ran the cascade at full resolution
RELEASE_AGE_CROP = crops.CropGeometry(1.4)  # the box plus 20 % a side
RELEASE_EMOTION_CROP = crops.CropGeometry(1.1)  # the box plus 5 % a side

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


def release_models(ref: str) -> dict[str, TFLiteModel]:
    """The interpreters of an earlier release (a git ref), read from its committed chunks."""
    import subprocess
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="release-models-"))
    files = subprocess.run(["git", "ls-tree", "--name-only", f"{ref}:models"], check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        blob = subprocess.run(["git", "show", f"{ref}:models/{name}"], check=True, capture_output=True)
        (folder / name).write_bytes(blob.stdout)
    manifest = read_manifest(folder)
    return {key: TFLiteModel(assemble_model(folder, manifest["models"][key]), key)
            for key in ("age_gender", "emotion")}


def ratio_row(name: str, release: dict, current: dict) -> dict:
    return {"name": name, "release_median_ms": release["median_ms"],
            "current_median_ms": current["median_ms"],
            "speed_up": round(release["median_ms"] / current["median_ms"], 2)}


def per_face_rows(models: FaceModels, release: dict, face: crops.FaceCrops, runs: int,
                  warmup: int) -> list[dict]:
    """Each interpreter alone, the release's beside today's, on the same crop."""
    rows = []
    for key, crop in (("age_gender", face.age_gender), ("emotion", face.emotion)):
        today = models.age_gender if key == "age_gender" else models.emotion
        current = summarise(key, time_ms(lambda m=today, c=crop: m.run(c), runs, warmup))
        old = summarise(key, time_ms(lambda m=release[key], c=crop: m.run(c), runs, warmup))
        rows.append(ratio_row(f"{key} model, per face", old, current))
    return rows


def release_photo_path(jpeg: bytes, release: dict) -> None:
    """What the release did per photo: decode, Haar at full resolution, 1.4 x box crops, models."""
    image = images.decode_image(jpeg)
    gray = images.to_gray(image)
    for box in RELEASE_HAAR.detect(gray):
        release["age_gender"].run(crops.crop_face(gray, box, RELEASE_AGE_CROP, 128))
        release["emotion"].run(crops.crop_face(gray, box, RELEASE_EMOTION_CROP, 48))


def photo_rows(models: FaceModels, release: dict, photos: list[bytes], runs: int,
               warmup: int) -> list[dict]:
    """Per photo: today's served path against the release's path and one full Haar pass."""
    def each(function):
        return lambda: [function(jpeg) for jpeg in photos]

    current = summarise("served", time_ms(each(lambda j: analyze_bytes(j, models=models)), runs, warmup))
    old = summarise("release", time_ms(each(lambda j: release_photo_path(j, release)), runs, warmup))
    haar = summarise("haar", time_ms(each(lambda j: RELEASE_HAAR.detect(
        images.to_gray(images.decode_image(j)))), runs, warmup))
    return [ratio_row(f"photo, whole served path ({len(photos)} photos)", old, current),
            ratio_row("photo, served path against one Haar pass at release settings", haar, current)]


def median_ms(function: Callable[[], object], runs: int, warmup: int) -> float:
    """The median of :func:`time_ms`."""
    return statistics.median(time_ms(function, runs, warmup))


def network_time_ms(models: FaceModels, photos: list[bytes], runs: int, warmup: int) -> dict[str, float]:
    """What no Python can cut from a set of photos: the JPEG decodes, the networks' own runs
    (the detector's network once a photo, both face models once a face; their inputs made
    beforehand, outside the timing) and the Haar cascade's checks of BlazeFace's unsure boxes
    (which hold its false detections down)."""
    decoded = [images.decode_image(jpeg) for jpeg in photos]
    detector = models.detector
    times = {"decode": median_ms(lambda: [images.decode_image(jpeg) for jpeg in photos], runs, warmup)}
    if isinstance(detector, BlazeFaceDetector):
        interpreter = detector.full.network._interpreter()
        index = interpreter.get_input_details()[0]["index"]
        tensors = [(detector.full.square_input(image)[0].astype(np.float32) / 127.5 - 1.0)[None]
                   for image in decoded]

        def detector_network() -> None:
            for tensor in tensors:
                interpreter.set_tensor(index, tensor)
                interpreter.invoke()

        times["detector network"] = median_ms(detector_network, runs, warmup)
        checked = [(to_gray(image), box) for image in decoded
                   for box, score in detector._candidates(image) if score < detector.sure_score]

        def haar_checks() -> None:
            for gray, box in checked:
                detector.checker.confirms(gray, box)

        times[f"Haar checks of unsure boxes ({len(checked)})"] = median_ms(haar_checks, runs, warmup)
    crops = [crop for image in decoded for crop in analyze.locate_faces(image, models).crops]

    def face_networks() -> None:
        for crop in crops:
            models.age_gender.run(crop.age_gender)
            models.emotion.run(crop.emotion)

    times[f"face networks ({len(crops)} faces)"] = median_ms(face_networks, runs, warmup)
    return times


def time_split_rows(models: FaceModels, photos: list[bytes], served_ms: float, haar_ms: float,
                    runs: int, warmup: int) -> list[dict]:
    """Where the served path's time goes, and the most it could gain on one Haar pass with
    today's networks and checks: those and the decodes alone, everything else free."""
    parts = network_time_ms(models, photos, runs, warmup)
    floor = sum(parts.values())
    rows = [{"name": name, "ms": ms} for name, ms in parts.items()]
    rows.append({"name": "the rest: resizes, crops, merging, Python", "ms": served_ms - floor})
    rows.append({"name": "decodes, networks and checks alone against one Haar pass", "ms": floor,
                 "speed_up": round(haar_ms / floor, 2)})
    return rows


def bench_photos() -> list[bytes]:
    """The astronaut centred on a 640x480 canvas, and three 640x480 scenes holding her face
    at random sizes (60-250 px) on varied backgrounds."""
    import cv2
    from skimage import data

    from faceinsight.eval.scenes import encode_jpeg, place_faces

    rng = np.random.default_rng(0)
    face = data.astronaut()[40:240, 130:330]
    scenes = [place_faces([face, face[:, ::-1]], rng)[0] for _ in range(3)]
    return [photo_640x480()] + [encode_jpeg(cv2.resize(s, PHOTO_SIZE)) for s in scenes]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="timed runs per model row")
    parser.add_argument("--photo-runs", type=int, default=20, help="timed runs per photo row")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--models", type=Path, default=MODELS_DIR, help="folder with manifest.json")
    parser.add_argument("--release", default=RELEASE, help="git ref of the release to compare with")
    parser.add_argument("--threads", type=int, default=1, help="interpreter and OpenCV threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import cv2

    cv2.setNumThreads(args.threads)
    models = FaceModels(args.models, threads=args.threads)
    release = release_models(args.release)
    photos = bench_photos()
    face = analyze.locate_faces(images.decode_image(photos[0]), models).crops[0]
    print(f"Face Insight speed against release {args.release}: {platform.machine()}, "
          f"Python {platform.python_version()}, {args.threads} thread(s), OpenCV {cv2.__version__}, "
          f"detector {models.detector.name}\n")
    rows = per_face_rows(models, release, face, args.runs, args.warmup)
    rows += photo_rows(models, release, photos, args.photo_runs, args.warmup)
    width = max(len(r["name"]) for r in rows)
    print(f"{'what':<{width}}  {'release ms':>10}  {'today ms':>9}  {'speed-up':>8}")
    for r in rows:
        print(f"{r['name']:<{width}}  {r['release_median_ms']:>10.2f}  {r['current_median_ms']:>9.2f}  "
              f"{r['speed_up']:>7.1f}x")
    split = time_split_rows(models, photos, rows[-1]["current_median_ms"], rows[-1]["release_median_ms"],
                            args.photo_runs, args.warmup)
    print(f"\nwhere the served path's {rows[-1]['current_median_ms']:.2f} ms go ({len(photos)} photos)")
    for r in split:
        ratio = f"  {r['speed_up']:>7.1f}x" if "speed_up" in r else ""
        print(f"{r['name']:<{width}}  {r['ms']:>9.2f}{ratio}")
    if args.json:
        args.json.write_text(json.dumps(rows + split, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
