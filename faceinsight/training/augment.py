"""Augmentation: the variations training crops see, so the models hold on faces in photos.

Two kinds of crops: 48 px crops shifted, flipped, turned and erased (:func:`augment_batch`),
and crops cut through the serving crop function from faces in context with the box varied as
a detector varies it (:func:`jittered_crops`), optionally before another background, pasted
into a photo, at a lower resolution or with real photos' effects
(:mod:`faceinsight.training.photo_effects`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceinsight.crops import WHOLE_BOX, crop_face
from faceinsight.eval import scenes
from faceinsight.training.photo_effects import photo_effects


def augment_batch(images: np.ndarray, rng: np.random.Generator, shift: int,
                  rotate: float = 0.0, zoom: float = 0.0, erase: float = 0.0) -> np.ndarray:
    """Random horizontal flips, shifts (reflected border) and contrast jitter; optionally
    rotation, zoom and random erasing, which fight over-fitting on small crops.

    :param images: (N, S, S) uint8 crops.
    :param rng: the seeded generator of this run.
    :param shift: largest shift in pixels, both axes.
    :param rotate: largest rotation in degrees, either way (0: none).
    :param zoom: largest relative zoom in or out, e.g. 0.1 for 0.9x..1.1x (0: none).
    :param erase: chance that a crop gets one random rectangle filled with noise (0: never).
    :returns: (N, S, S, 1) float32 in 0..255, the model's input.
    """
    n, size = images.shape[0], images.shape[1]
    flips = rng.random(n) < 0.5
    batch = np.where(flips[:, None, None], images[:, :, ::-1], images)
    padded = np.pad(batch, ((0, 0), (shift, shift), (shift, shift)), mode="reflect")
    dx, dy = rng.integers(0, 2 * shift + 1, n), rng.integers(0, 2 * shift + 1, n)
    rows = dy[:, None] + np.arange(size)[None, :]
    cols = dx[:, None] + np.arange(size)[None, :]
    shifted = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if rotate or zoom:  # draws nothing when off, so earlier runs repeat exactly
        shifted = _rotate_and_zoom(shifted, rng, rotate, zoom)
    return _contrast_and_erase(shifted, rng, erase)


def _contrast_and_erase(crops: np.ndarray, rng: np.random.Generator, erase: float) -> np.ndarray:
    """Random contrast (0.8-1.2 about mid-grey) and optional random erasing, the last steps of
    every augmentation: (N, S, S) crops -> (N, S, S, 1) float32 in 0..255."""
    contrast = rng.uniform(0.8, 1.2, (len(crops), 1, 1)).astype(np.float32)
    out = np.clip((crops.astype(np.float32) - 128.0) * contrast + 128.0, 0, 255)
    if erase:
        _erase_rectangles(out, rng, erase)
    return out[..., None]


@dataclass(frozen=True)
class BoxJitter:
    """How much a detector's box varies from face to face, for training crops to cover it.

    :param scale: largest relative change of the box side, e.g. 0.1 for 0.9x..1.1x.
    :param shift: largest shift of the box centre, in box sides, each axis.
    :param rotate: largest rotation in degrees, either way.
    """

    scale: float = 0.1
    shift: float = 0.05
    rotate: float = 10.0

    def draw(self, box: tuple[float, float, float, float], rng: np.random.Generator):
        """One varied box and angle: ``((x, y, w, h), degrees)``."""
        x, y, w, h = box
        factor = rng.uniform(1 - self.scale, 1 + self.scale)
        cx = x + w / 2 + rng.uniform(-self.shift, self.shift) * w
        cy = y + h / 2 + rng.uniform(-self.shift, self.shift) * h
        w, h = w * factor, h * factor
        return (cx - w / 2, cy - h / 2, w, h), float(rng.uniform(-self.rotate, self.rotate))


def other_background(context: np.ndarray, other: np.ndarray, box, rng: np.random.Generator) -> np.ndarray:
    """The face of ``context`` blended onto a blurred, flipped other image, as a face in a photo
    stands before a background that does not continue it (the mirrored border always does).

    :param context: the face in context; its face (chip) at ``box``.
    :param other: another context image, the background's material.
    """
    x, y, w, h = (int(v) for v in box)
    blurred = cv2.GaussianBlur(other[::-1, ::-1] if rng.random() < 0.5 else other[:, ::-1],
                                  (0, 0), float(rng.uniform(3, 12)))
    mask = np.zeros(context.shape[:2], np.float32)
    cv2.ellipse(mask, (x + w // 2, y + h // 2), (int(w * rng.uniform(0.48, 0.6)),
                int(h * rng.uniform(0.55, 0.68))), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), float(w * rng.uniform(0.03, 0.08)))
    return (mask * context + (1 - mask) * blurred).astype(np.uint8)


# The served detector frames a face pasted into a photo tighter than the same face in its own
# surroundings: its faded edge looks like background. On 1,500 training-split faces of each
# dataset placed in photos as the evaluation places them, BlazeFace's median box was 0.94-0.95
# (UTKFace) and 0.96 (FER2013) of its box on faces in a mirrored border (the median chip square
# over the box: 1.065-1.072 against 1.008, ``python -m faceinsight.eval.calibrate
# --age-gender-in-photos``; 1.193 against 1.143), so a pasted face is framed as served on it.
PASTED_BOX_SCALE = 0.95


def scaled_box(box: tuple[float, float, float, float], factor: float) -> tuple[float, float, float, float]:
    """``box`` scaled about its centre by ``factor``."""
    x, y, w, h = box
    return x + w * (1 - factor) / 2, y + h * (1 - factor) / 2, w * factor, h * factor


def pasted_in_photo(context: np.ndarray, chip: tuple[int, int, int, int],
                    rng: np.random.Generator) -> np.ndarray:
    """The chip of ``context`` feathered onto a smooth random background, as a face pasted into
    a photo stands: its own surroundings gone and its outer edge faded (the construction of
    :func:`faceinsight.eval.scenes.place_faces`, here on training faces).

    :param context: (H, W) uint8, the face in context.
    :param chip: where the chip lies in it, ``(x, y, side, side)``.
    """
    x, y, side, _ = (int(v) for v in chip)
    height, width = context.shape[:2]
    scene = cv2.cvtColor(scenes.background(rng, (width, height)), cv2.COLOR_RGB2GRAY).astype(np.float32)
    scenes.feather_onto(scene, context[y:y + side, x:x + side], x, y)
    return scene.astype(np.uint8)


def lower_resolution(context: np.ndarray, rng: np.random.Generator, smallest: float = 0.3) -> np.ndarray:
    """The image shrunk by a random factor and enlarged back: a small face in a photo."""
    factor = rng.uniform(smallest, 0.8)
    height, width = context.shape[:2]
    small = cv2.resize(context, (max(8, round(width * factor)), max(8, round(height * factor))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def jittered_crops(contexts: np.ndarray, boxes: np.ndarray, size: int, rng: np.random.Generator,
                   jitter: BoxJitter, erase: float = 0.0, background: float = 0.0,
                   low_resolution: float = 0.0, paste: float = 0.0,
                   chip: tuple[int, int, int, int] | None = None, photo: float = 0.0) -> np.ndarray:
    """Training crops through the serving crop function, the box varied as a detector varies it,
    then random flips, contrast jitter and optional random erasing.

    :param contexts: (N, H, W) uint8 faces in context.
    :param boxes: (N, 4) the model's framing ``(x, y, w, h)`` of each context's face.
    :param size: the model's input side.
    :param background: chance that a face is set before another image's blurred content.
    :param low_resolution: chance that a face is seen at a lower resolution.
    :param paste: chance that a face is pasted into a photo (:func:`pasted_in_photo`), instead
        of another image's background; its box then shrinks as the detector's does there
        (:data:`PASTED_BOX_SCALE`).
    :param chip: where each context's chip lies (needed when ``paste``).
    :param photo: chance that a face gets real photos' effects
        (:func:`faceinsight.training.photo_effects.photo_effects`: exposure, blur, noise, JPEG,
        a turn, a hand or glasses).
    :returns: (N, size, size, 1) float32 in 0..255, the model's input.
    """
    crops = []
    for index, context in enumerate(contexts):
        framed = tuple(float(v) for v in boxes[index])
        if paste and rng.random() < paste:
            context = pasted_in_photo(context, chip, rng)
            framed = scaled_box(framed, PASTED_BOX_SCALE)
        # A batch of one face (a split's last, say) has no other image to borrow a background from.
        elif background and len(contexts) > 1 and rng.random() < background:
            other = contexts[(index + 1 + int(rng.integers(len(contexts) - 1))) % len(contexts)]
            context = other_background(context, other, framed, rng)
        if low_resolution and rng.random() < low_resolution:
            context = lower_resolution(context, rng)
        if photo and rng.random() < photo:  # draws nothing when off, so earlier runs repeat exactly
            context = photo_effects(context, framed, rng)
        varied, angle = jitter.draw(framed, rng)
        crop = crop_face(context, varied, WHOLE_BOX, size, angle)
        crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return _contrast_and_erase(np.stack(crops), rng, erase)


def _rotate_and_zoom(images: np.ndarray, rng: np.random.Generator, rotate: float,
                     zoom: float) -> np.ndarray:
    """Rotate and scale each crop about its centre, reflecting at the border."""
    n, size = images.shape[0], images.shape[1]
    angles = rng.uniform(-rotate, rotate, n)
    scales = rng.uniform(1.0 - zoom, 1.0 + zoom, n)
    centre = ((size - 1) / 2, (size - 1) / 2)
    out = np.empty_like(images)
    for i in range(n):
        matrix = cv2.getRotationMatrix2D(centre, float(angles[i]), float(scales[i]))
        out[i] = cv2.warpAffine(images[i], matrix, (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT_101)
    return out


def _erase_rectangles(images: np.ndarray, rng: np.random.Generator, chance: float) -> None:
    """Random erasing (Zhong et al. 2017), in place: 2-25 % of a crop becomes uniform noise."""
    n, size = images.shape[0], images.shape[1]
    for i in np.flatnonzero(rng.random(n) < chance):
        area = rng.uniform(0.02, 0.25) * size * size
        aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
        height = int(min(size, round(np.sqrt(area * aspect))))
        width = int(min(size, round(np.sqrt(area / aspect))))
        top, left = rng.integers(0, size - height + 1), rng.integers(0, size - width + 1)
        images[i, top:top + height, left:left + width] = rng.uniform(0, 255, (height, width))


