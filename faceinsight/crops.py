"""The one crop of training and serving: a model's square input cut around a detector's box by
the model's shipped geometry, grayscale, resized and histogram-equalised.

Training cuts its crops with :func:`crop_face`, the function serving uses, and each model ships
its crop geometry per detector, so a model sees at serving time the framing it learnt.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceinsight.boxes import Box, clip_box
from faceinsight.detectors import MIN_FACE_SIDE
from faceinsight.images import ImageRefusedError

AGE_GENDER_SIZE = 128  # pixels a side of each model's input
EMOTION_SIZE = 48


@dataclass(frozen=True)
class FaceCrops:
    """The two model inputs for one face, both uint8 grayscale and equalised."""

    box: Box
    age_gender: np.ndarray  # AGE_GENDER_SIZE x AGE_GENDER_SIZE
    emotion: np.ndarray  # EMOTION_SIZE x EMOTION_SIZE


@dataclass(frozen=True)
class CropGeometry:
    """Where a model's square crop lies relative to a detector's box.

    Calibrated per model and detector (``faceinsight.eval.calibrate``) and shipped in the models'
    manifest, so training and serving frame a face the same way.

    :param scale: crop side / box side (the box's larger side).
    :param dx: crop centre minus box centre, in box sides, to the right.
    :param dy: crop centre minus box centre, in box sides, downwards.
    """

    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def square(self, box: tuple[float, float, float, float]) -> tuple[float, float, float]:
        """The crop's centre x, centre y and side for a detector box ``(x, y, w, h)``."""
        x, y, w, h = box
        side = max(w, h)
        return x + w / 2 + self.dx * side, y + h / 2 + self.dy * side, self.scale * side


WHOLE_BOX = CropGeometry()  # the crop is the box itself: dataset chips and --no-detect


def crop_face(gray: np.ndarray, box: tuple[float, float, float, float], geometry: CropGeometry,
              size: int, angle: float = 0.0) -> np.ndarray:
    """The one crop function of training and serving: a model input for one face.

    :param gray: the whole grayscale image.
    :param box: the face's detector box ``(x, y, w, h)`` (floats allowed; may leave the image).
    :param geometry: where the model's crop lies relative to the box.
    :param size: the model's input side in pixels.
    :param angle: rotation in degrees, counter-clockwise (training's jitter; 0 when serving).
    :returns: ``size`` x ``size`` uint8, histogram-equalised; the border is replicated where
        the crop leaves the image.
    """
    cx, cy, side = geometry.square(box)
    side = max(side, 1.0)
    if not angle:
        whole = max(1, round(side))
        left, top = round(cx - whole / 2), round(cy - whole / 2)
        return prepare_crop(crop_box(gray, (left, top, whole, whole)), size)
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    matrix[:, 2] += (size / 2 - cx, size / 2 - cy)
    turned = cv2.warpAffine(gray, matrix, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    return cv2.equalizeHist(turned)


def crop_box(gray: np.ndarray, box: Box) -> np.ndarray:
    """Cut a box out of an image, replicating the border where the box leaves it.

    :param gray: H x W image.
    :param box: ``(x, y, w, h)``; may extend past the image edges.
    """
    x, y, w, h = box
    height, width = gray.shape[:2]
    pad = max(0, -x, -y, x + w - width, y + h - height)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x, y = x + pad, y + pad
    return gray[y:y + h, x:x + w]


def prepare_crop(face: np.ndarray, size: int) -> np.ndarray:
    """Resize a grayscale face crop to ``size`` x ``size`` and equalise its histogram.

    :param face: H x W uint8 grayscale crop (any size).
    :param size: output side in pixels.
    """
    interpolation = cv2.INTER_AREA if min(face.shape[:2]) > size else cv2.INTER_LINEAR
    resized = cv2.resize(face, (size, size), interpolation=interpolation)
    return cv2.equalizeHist(resized)


@dataclass(frozen=True)
class Framing:
    """How each model frames a face found by one detector (from the models' manifest)."""

    age_gender: CropGeometry = WHOLE_BOX
    emotion: CropGeometry = WHOLE_BOX


def crops_for_box(gray: np.ndarray, box: Box, framing: Framing) -> FaceCrops:
    """Both model inputs for one detected face.

    :param gray: the whole grayscale image.
    :param box: the face as found by the detector; the models' crops are cut from it (beyond
        the photo's edge too, as they learnt), the reported box is its part inside the photo.
    :param framing: each model's crop geometry for that detector.
    """
    return FaceCrops(
        box=clip_box(box, gray.shape[1], gray.shape[0]),
        age_gender=crop_face(gray, box, framing.age_gender, AGE_GENDER_SIZE),
        emotion=crop_face(gray, box, framing.emotion, EMOTION_SIZE),
    )


def crops_for_whole_image(gray: np.ndarray) -> FaceCrops:
    """Both model inputs when the caller says the image already is one face crop.

    :param gray: the face crop, grayscale.
    """
    height, width = gray.shape[:2]
    return FaceCrops(
        box=(0, 0, int(width), int(height)),
        age_gender=prepare_crop(gray, AGE_GENDER_SIZE),
        emotion=prepare_crop(gray, EMOTION_SIZE),
    )


def check_face_crop_size(gray: np.ndarray) -> None:
    """Refuse an image given as one face crop that is too small to hold a face, rather than
    answer for it with made-up confidence.

    :raises ImageRefusedError: a side is under :data:`~faceinsight.detectors.MIN_FACE_SIDE`
        pixels (no detector reports a smaller face).
    """
    height, width = gray.shape[:2]
    if min(height, width) < MIN_FACE_SIDE:
        raise ImageRefusedError(f"the image is {width}x{height} pixels; a face crop must be at "
                                f"least {MIN_FACE_SIDE} pixels on each side")
