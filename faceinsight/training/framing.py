"""Training faces framed as serving frames them: the served detector's box on each face in
its mirrored context, framed by the model's calibrated geometry, cached between rounds.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import cv2
import numpy as np

from faceinsight import crops
from faceinsight.eval.scenes import match
from faceinsight.models import FaceModels


def detector_framed_boxes(contexts: np.ndarray, chip: tuple[int, int, int, int], detector,
                          geometry: crops.CropGeometry, upscale: int = 3,
                          cache_dir: Path | None = None) -> tuple[np.ndarray, float]:
    """Each face's crop square as serving would cut it: the detector's box on the face in
    context, framed by the model's geometry; the chip itself where the detector finds no face.

    :param contexts: (N, H, W) uint8 faces in context, each chip at ``chip``.
    :param detector: the served detector (boxes found on a copy ``upscale`` times larger).
    :param geometry: the model's crop geometry for that detector (from the manifest).
    :param cache_dir: where to keep the detector's boxes between rounds (None: no cache).
    :returns: (N, 4) boxes ``(x, y, side, side)`` in context pixels, and the share found.
    """
    detected = cached_detections(contexts, chip, detector, upscale, cache_dir)
    boxes = np.tile(np.asarray(chip, np.float64), (len(contexts), 1))
    found = ~np.isnan(detected[:, 0])
    for index in np.flatnonzero(found):
        cx, cy, framed = geometry.square(tuple(detected[index]))
        boxes[index] = (cx - framed / 2, cy - framed / 2, framed, framed)
    return boxes, float(found.mean()) if len(contexts) else 0.0


def detections_on_chips(contexts: np.ndarray, chip: tuple[int, int, int, int], detector,
                        upscale: int = 3) -> np.ndarray:
    """The detector's box on each face in context, found on a copy ``upscale`` times larger.

    :returns: (N, 4) float boxes ``(x, y, w, h)`` in context pixels; NaN where no box lies on
        the chip.
    """
    x, y, side, _ = chip
    boxes = np.full((len(contexts), 4), np.nan)
    for index, context in enumerate(contexts):
        large = cv2.resize(context, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
        detected = detector.detect(cv2.cvtColor(large, cv2.COLOR_GRAY2RGB))
        pairs = match(detected, [(x * upscale, y * upscale, side * upscale)])
        if pairs:
            boxes[index] = [v / upscale for v in detected[pairs[0]]]
    return boxes


def cached_detections(contexts: np.ndarray, chip: tuple[int, int, int, int], detector,
                      upscale: int = 3, cache_dir: Path | None = None) -> np.ndarray:
    """:func:`detections_on_chips`, kept in ``cache_dir`` under the faces' and the detector's
    fingerprints: every training round would detect the same faces again (about a minute for
    UTKFace's training faces on two CPU cores)."""
    if cache_dir is None:
        return detections_on_chips(contexts, chip, detector, upscale)
    faces = hashlib.sha256(np.ascontiguousarray(contexts).data)
    faces.update(f"{contexts.shape} {chip} {upscale}".encode())
    path = cache_dir / f"detections-{detector_fingerprint(detector)}-{faces.hexdigest()[:16]}.npy"
    if path.exists():
        return np.load(path)
    boxes = detections_on_chips(contexts, chip, detector, upscale)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, boxes)
    return boxes


def detector_fingerprint(detector) -> str:
    """A digest of what decides a detector's boxes: its kind, its weights, its thresholds and
    its class's settings (such as BlazeFace's second look at a padded copy), those of a detector
    it asks (BlazeFace's Haar check) and OpenCV's version (the Haar cascade ships with OpenCV)."""
    digest = hashlib.sha256(f"{detector.name} {cv2.__version__}".encode())
    settings = {key: getattr(type(detector), key) for key in dir(type(detector)) if key.isupper()}
    for key, value in sorted({**settings, **vars(detector)}.items()):
        if isinstance(value, bytes):
            digest.update(hashlib.sha256(value).digest())
        elif isinstance(value, (int, float, str)):
            digest.update(f" {key}={value}".encode())
        elif hasattr(value, "detect"):
            digest.update(f" {key}={detector_fingerprint(value)}".encode())
    return digest.hexdigest()[:16]


def served_boxes(args: argparse.Namespace, contexts: np.ndarray, chip: tuple[int, int, int, int],
                 model: str) -> tuple[int, int, int, int] | np.ndarray:
    """The box each training face is cut at: its own chip, or with ``--detector-framing`` the
    square serving would cut (the served detector's box and ``model``'s geometry, ``age_gender``
    or ``emotion``), per face, so the network learns the framing it will be served.

    :param contexts: (N, H, W) uint8 faces in context, each chip at ``chip``.
    """
    if not args.detector_framing:
        return chip
    models = FaceModels(args.detector_framing)
    boxes, found = detector_framed_boxes(contexts, chip, models.detector, getattr(models.framing, model),
                                         cache_dir=args.cache)
    print(f"{models.detector.name} framed {found:.1%} of the training faces "
          "(the rest keep their own framing)", flush=True)
    return boxes
