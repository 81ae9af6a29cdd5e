"""Synthetic photos of dataset faces, and which detection is which face.

Dataset faces (UTKFace's chips, FER2013's 48 px faces) are feathered onto smooth, varied
backgrounds at several sizes and positions (:func:`place_faces`), or set alone in a mirrored
border (:func:`in_mirrored_border`). The served-path evaluation, the crop calibration, the
golden tests and training's ``--paste`` augmentation all build their photos here, so each
measures faces placed the same way; :func:`match` pairs a detector's boxes with the faces.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

SCENE_SIZE = (640, 480)
FACE_SIDES = (60, 250)  # placed face (chip) sides, pixels


def background(rng: np.random.Generator, size: tuple[int, int] = SCENE_SIZE) -> np.ndarray:
    """A smooth, varied RGB background: coloured noise blurred at a random scale, or a gradient."""
    width, height = size
    if rng.random() < 0.3:
        ramp = np.linspace(0, 1, width)[None, :, None] * rng.uniform(0, 255, 3)
        base = ramp + np.linspace(0, 1, height)[:, None, None] * rng.uniform(-120, 120, 3)
        return np.clip(base + rng.uniform(0, 100), 0, 255).astype(np.uint8)
    cells = int(rng.integers(3, 24))
    noise = rng.uniform(0, 255, (cells, max(2, cells * width // height), 3)).astype(np.float32)
    image = cv2.resize(noise, size, interpolation=cv2.INTER_CUBIC)
    return np.clip(cv2.GaussianBlur(image, (0, 0), rng.uniform(2, 12)), 0, 255).astype(np.uint8)


def feather_mask(side: int) -> np.ndarray:
    """An alpha mask that keeps the chip and fades its outer tenth into the background."""
    mask = np.zeros((side, side), np.float32)
    inset = max(1, side // 20)
    mask[inset:side - inset, inset:side - inset] = 1.0
    return cv2.GaussianBlur(mask, (0, 0), max(1.0, side / 25))[..., None]


def place_faces(chips: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Feather the chips onto a fresh background at random, non-overlapping places and sizes.

    :returns: the photo and each chip's square ``(x, y, side)`` (None where it did not fit).
    """
    scene = background(rng).astype(np.float32)
    height, width = scene.shape[:2]
    squares: list = []
    for chip in chips:
        square = None
        for _ in range(50):
            side = int(np.exp(rng.uniform(*np.log(FACE_SIDES))))
            side = min(side, height - 2, width - 2)
            x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
            if all(s is None or x + side < s[0] or s[0] + s[2] < x or y + side < s[1] or s[1] + s[2] < y
                   for s in squares):
                square = (x, y, side)
                break
        squares.append(square)
        if square is None:
            continue
        x, y, side = square
        rgb = chip if chip.ndim == 3 else cv2.cvtColor(chip, cv2.COLOR_GRAY2RGB)
        face = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA if side < rgb.shape[0]
                          else cv2.INTER_CUBIC)
        feather_onto(scene, face, x, y)
    return scene.astype(np.uint8), squares


def feather_onto(scene: np.ndarray, face: np.ndarray, x: int, y: int) -> None:
    """Blend a square face into ``scene`` (float32, changed in place) at ``(x, y)`` through
    :func:`feather_mask`: its outer tenth fades into what lies beneath."""
    side = face.shape[0]
    alpha = feather_mask(side)
    if scene.ndim == 2:
        alpha = alpha[..., 0]
    region = scene[y:y + side, x:x + side]
    scene[y:y + side, x:x + side] = alpha * face.astype(np.float32) + (1 - alpha) * region


def in_mirrored_border(chip: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple]:
    """A chip at a random size in a mirrored border of half its side: a face filling a photo."""
    side = int(np.exp(rng.uniform(*np.log(FACE_SIDES))))
    face = cv2.resize(chip, (side, side), interpolation=cv2.INTER_AREA)
    pad = side // 2
    return cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REFLECT_101), (pad, pad, side)


def match(boxes: list, squares: list) -> dict[int, int]:
    """Detections matched to placed faces: a box whose centre lies in the middle half of a
    face's square, the nearest first, each box and face used once (whatever order the boxes
    come in). Returns face index -> box index."""
    candidates = []
    for face_index, square in enumerate(squares):
        if square is None:
            continue
        x, y, side = square
        for box_index, (bx, by, bw, bh) in enumerate(boxes):
            dx, dy = bx + bw / 2 - (x + side / 2), by + bh / 2 - (y + side / 2)
            if abs(dx) < side / 4 and abs(dy) < side / 4:
                candidates.append((dx * dx + dy * dy, face_index, box_index))
    pairs: dict[int, int] = {}
    for _, face_index, box_index in sorted(candidates):
        if face_index not in pairs and box_index not in pairs.values():
            pairs[face_index] = box_index
    return pairs


def encode_jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return data.tobytes()


def grouped_photos(chips: list, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, list, range]]:
    """The chips in order, two or three to a photo (:func:`place_faces`): each photo, its
    chips' squares and which chips it holds."""
    index = 0
    while index < len(chips):
        group = range(index, min(len(chips), index + int(rng.integers(2, 4))))
        index = group.stop
        image, squares = place_faces([chips[i] for i in group], rng)
        yield image, squares, group
