"""Image in, the answer out: the one entry point the CLI, web app and video jobs share.

A photo goes through it once, forward: decode (:mod:`faceinsight.images`), find the faces
(:mod:`faceinsight.detectors`), cut their crops (:mod:`faceinsight.crops`), run the models
(:mod:`faceinsight.models`) and build the answer (:mod:`faceinsight.contract`): each face is a
:class:`~faceinsight.contract.Face` made once here, and the whole a
:class:`~faceinsight.contract.Analysis`, dumped once by whoever shows it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceinsight.boxes import Box, reading_order
from faceinsight.contract import Analysis, Face, ImageSize, Timing
from faceinsight.crops import FaceCrops, Framing, check_face_crop_size, crops_for_box, crops_for_whole_image
from faceinsight.detectors import Detection, Detector
from faceinsight.images import DEFAULT_MAX_PIXELS, decode_image, jpeg_preview, read_image_file, to_gray
from faceinsight.labels import EMOTIONS, age_group, gender_of
from faceinsight.models import FaceModels, Prediction, get_models

# Faces read in one photo or video frame; when more are found, those the detector is surest of.
# It bounds the work (the models take about 1.5 ms a face) and stays above real crowds.
MAX_FACES = 100


@dataclass(frozen=True)
class FoundFaces:
    """The faces read in one image, in reading order, and how many the detector found (more
    than were read when the cap, :data:`MAX_FACES`, left some out)."""

    crops: list[FaceCrops]
    found: int


def choose_faces(detections: Sequence[Detection], max_faces: int = MAX_FACES) -> list[Box]:
    """The boxes read: the ``max_faces`` detections the detector is surest of, in reading
    order (:func:`reading_order`). Not the largest: a box's size says more than the face's
    size (equal faces pasted at 250 px got boxes of 207-264 px, the smallest on dark skin).

    :param detections: the detector's faces with their scores.
    :param max_faces: read at most this many.
    """
    surest = sorted(detections, key=lambda found: found.score, reverse=True)[:max(0, max_faces)]
    boxes = [found.box for found in surest]
    return [boxes[i] for i in reading_order(boxes)]


def find_faces(image: np.ndarray, detector: Detector | None, framing: Framing,
               max_faces: int = MAX_FACES) -> FoundFaces:
    """Locate faces in an image and make their model inputs.

    :param image: RGB or grayscale uint8 array.
    :param detector: the face detector; None when the image already is a single face crop
        (box = whole image).
    :param framing: each model's crop geometry for that detector.
    :param max_faces: read at most this many faces, the surest (:func:`choose_faces`).
    """
    gray = to_gray(image)
    if detector is None:
        check_face_crop_size(gray)
        return FoundFaces([crops_for_whole_image(gray)], found=1)
    detections = detector.detect_scored(image)
    crops = [crops_for_box(gray, box, framing) for box in choose_faces(detections, max_faces)]
    return FoundFaces(crops, found=len(detections))


def face_answer(box: Box, predicted: Prediction) -> Face:
    """One face as the product reports it: its box, then the models' numbers rounded and named.

    :param box: ``(x, y, w, h)`` in the image's pixels.
    :param predicted: the models' numbers for the face.
    """
    gender, probability = gender_of(predicted.female_probability)
    shown = round(float(predicted.age), 1)  # the group follows the age as shown: 18.46 is 18.5, 19 years
    scores = predicted.emotion_scores
    return Face(
        box=[int(v) for v in box],
        age=shown,
        age_range=[int(v) for v in predicted.age_range],
        age_group=age_group(shown),
        gender=gender,
        gender_probability=round(float(probability), 4),
        emotion=max(scores, key=scores.get),
        emotion_scores={name: round(float(scores[name]), 4) for name in EMOTIONS},
    )


def read_face(crop: FaceCrops, models: FaceModels) -> Face:
    """One face's answer from its crops (:func:`face_answer`).

    :param crop: the face's box and model inputs from :func:`find_faces`.
    :param models: the loaded models.
    """
    return face_answer(crop.box, models.predict(crop.age_gender, crop.emotion))


def locate_faces(image: np.ndarray, models: FaceModels, detect: bool = True,
                 max_faces: int = MAX_FACES) -> FoundFaces:
    """The faces in an image, found by the models' detector and cut with their geometry.

    :param image: RGB or grayscale uint8 array.
    :param models: the loaded models (their detector and crop geometry).
    :param detect: False when the image already is one face crop (box = whole image).
    :param max_faces: read at most this many faces, those the detector is surest of.
    :returns: the faces read, in reading order, and how many were found.
    """
    detector = models.detector if detect else None
    return find_faces(image, detector, models.framing, max_faces=max_faces)


def analyze_image(image: np.ndarray, detect: bool = True, models: FaceModels | None = None,
                  max_faces: int = MAX_FACES, decode_ms: float = 0.0, preview: str | None = None) -> Analysis:
    """Find faces in a decoded image and predict age, gender and emotion for each.

    :param image: RGB or grayscale uint8 array.
    :param detect: False when the image already is one face crop (box = whole image).
    :param models: the models to use (default: the shared, lazily loaded ones).
    :param max_faces: analyse at most this many faces, those the detector is surest of.
    :param decode_ms: how long decoding the image took, for the answer's timings.
    :param preview: the image as a JPEG data URL, for the answer (:func:`analyze_bytes`).
    :returns: the answer (:class:`faceinsight.contract.Analysis`): the faces in reading order
        (rows top to bottom, each left to right), how many were found, the image's size and
        each stage's milliseconds.
    """
    models = models or get_models()
    started = time.perf_counter()
    found = locate_faces(image, models, detect, max_faces)
    detected = time.perf_counter()
    faces = [read_face(crop, models) for crop in found.crops]
    done = time.perf_counter()
    timing = {"decode": decode_ms, "detect": round((detected - started) * 1000, 2),
              "predict": round((done - detected) * 1000, 2)}
    timing["total"] = round(sum(timing.values()), 2)
    height, width = image.shape[:2]
    return Analysis(faces=faces, faces_found=found.found, image=ImageSize(width=width, height=height),
                    timing_ms=Timing(**timing), **({"preview": preview} if preview else {}))


def analyze_bytes(data: bytes, detect: bool = True, models: FaceModels | None = None,
                  max_pixels: int = DEFAULT_MAX_PIXELS, preview_side: int = 0) -> Analysis:
    """Decode image bytes and analyse them (see :func:`analyze_image`).

    :param data: an encoded image file.
    :param detect: False when the image already is one face crop.
    :param models: the models to use (default: the shared ones).
    :param max_pixels: refuse images larger than this before decoding.
    :param preview_side: above 0: the answer also carries the decoded image, upright, as a JPEG
        no longer than this (``preview``), for a client that cannot show the format it sent.
    :raises faceinsight.images.ImageDecodeError: the bytes are not a readable image.
    """
    started = time.perf_counter()
    image = decode_image(data, max_pixels)
    decoded = round((time.perf_counter() - started) * 1000, 2)
    preview = jpeg_preview(image, preview_side) if preview_side else None
    return analyze_image(image, detect=detect, models=models, decode_ms=decoded, preview=preview)


def analyze_file(path: str | Path, detect: bool = True, models: FaceModels | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> Analysis:
    """Read and analyse one image file (see :func:`analyze_bytes`).

    :raises faceinsight.images.ImageDecodeError: missing, unreadable, not a regular file, too large, or
        not a readable image.
    """
    return analyze_bytes(read_image_file(path), detect=detect, models=models,
                         max_pixels=max_pixels)


def largest_face(faces: list[Face]) -> Face | None:
    """The face with the largest box (wherever it is in the reading order), or None."""
    return max(faces, key=lambda face: face.box[2] * face.box[3], default=None)
