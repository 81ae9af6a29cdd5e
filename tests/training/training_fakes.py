"""Fake datasets made from the astronaut's face, in the public folder layouts (UTKFace, FER2013,
FER+ and ckplus48), and where the shared tiny training run put its files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from face_helpers import encode

from faceinsight import images
from faceinsight.detectors import HaarDetector
from faceinsight.labels import EMOTIONS

UTK_NAMES = [
    "39_1_20170116174525125.jpg.chip.jpg",
    "24_0_1_20170116220224657 .jpg.chip.jpg",
    "55_0_0_20170116232725357jpg.chip.jpg",
    "28_1_2_201701161846515488.jpg.chip.jpg",
]
UTK_AGES = [2, 9, 15, 18, 23, 27, 31, 36, 42, 47, 53, 58, 64, 71, 78, 86, 95]


def variants(face: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
    """``count`` noisy, sometimes flipped, copies of an RGB face."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        noisy = face.astype(np.int16) + rng.normal(0, 12, face.shape).astype(np.int16)
        image = np.clip(noisy, 0, 255).astype(np.uint8)
        out.append(np.ascontiguousarray(image[:, ::-1] if rng.random() < 0.5 else image))
    return out


def fake_utkface(folder: Path, face: np.ndarray, count: int = 40) -> Path:
    """A flat UTKFace-style folder of 200 px chips, irregular names and a stray file included."""
    folder.mkdir(parents=True)
    chip = cv2.resize(face, (200, 200), interpolation=cv2.INTER_AREA)
    names = list(UTK_NAMES)
    for number in range(count - len(names)):
        age = UTK_AGES[number % len(UTK_AGES)]
        names.append(f"{age}_{number % 2}_{number % 5}_2017011617452{number:04d}.jpg.chip.jpg")
    for name, image in zip(names, variants(chip, count, seed=1), strict=True):
        (folder / name).write_bytes(encode(image, "JPEG", quality=90))
    (folder / "README.txt").write_text("not a chip\n")
    return folder


def fake_fer2013(folder: Path, face: np.ndarray, per_class: dict[str, int]) -> Path:
    """FER2013's image-folder layout: <split>/<emotion>/*.jpg, 48 px grayscale."""
    gray = cv2.resize(images.to_gray(face), (48, 48), interpolation=cv2.INTER_AREA)
    for split, count in per_class.items():
        for index, emotion in enumerate(EMOTIONS):
            target = folder / split / emotion
            target.mkdir(parents=True)
            for number, image in enumerate(variants(gray, count, seed=100 * index + len(split))):
                (target / f"{split}_{number}.jpg").write_bytes(encode(image, "JPEG", quality=90))
    return folder


@dataclass
class TinyRun:
    """Where the tiny training run put everything, and what it returned."""

    root: Path
    reports: Path
    age_gender_out: Path
    emotion_out: Path
    age_gender: dict
    emotion: dict


def fake_ferplus_and_ckplus(root: Path, astronaut: np.ndarray) -> tuple[Path, Path]:
    """A FER+ labels.csv voting every fake training face half neutral, half its own label, and
    a ckplus48-style folder of ten subjects' 48 px faces (one contempt face without emotion7)."""
    ferplus, ckplus = root / "ferplus", root / "ckplus48"
    ferplus.mkdir(exist_ok=True)
    columns = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear"]
    ours = ["neutral", "happy", "surprise", "sad", "angry", "disgust", "fear"]
    lines = ["path," + ",".join(columns) + ",contempt,unknown,NF"]
    for path in sorted((root / "fer2013" / "train").glob("*/*.jpg")):
        votes = [5 * (column == "neutral") + 5 * (name == path.parent.name)
                 for column, name in zip(columns, ours, strict=True)]
        lines.append(f"train/{path.parent.name}/{path.name}," + ",".join(map(str, votes)) + ",0,0,0")
    (ferplus / "labels.csv").write_text("\n".join(lines) + "\n")
    (ckplus / "images").mkdir(parents=True, exist_ok=True)
    gray = images.to_gray(astronaut)
    x, y, w, h = HaarDetector().detect(gray)[0]
    face = cv2.resize(gray[y:y + h, x:x + w], (48, 48), interpolation=cv2.INTER_AREA)
    rows = ["path,emotion7,ck_label,subject,sequence,frame"]
    for number in range(10):
        for emotion in ("happy", "surprise", ""):
            name = f"images/S{number:03d}_{emotion or 'contempt'}.png"
            (ckplus / name).write_bytes(encode(face, "PNG"))
            rows.append(f"{name},{emotion},x,S{number:03d},001,1")
    (ckplus / "labels.csv").write_text("\n".join(rows) + "\n")
    return ferplus, ckplus
