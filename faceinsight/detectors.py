"""Face detectors: OpenCV's Haar cascade (the design's detector) and BlazeFace (full-range, with
a short-range second look).

Both take an RGB (or grayscale) uint8 image and return boxes ``(x, y, w, h)`` in its pixels,
largest first (:meth:`detect`), or with the detector's score for each, surest first
(:meth:`detect_scored`: which faces are read when a photo holds more than the cap). Each runs
on a copy of bounded size, so the work per image does not grow with the photo's resolution.
Which detector serves is chosen in the models' manifest (and may be overridden by
``FACEINSIGHT_DETECTOR``); each model ships the crop geometry calibrated for each detector it
supports (:mod:`faceinsight.eval.calibrate`).
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from faceinsight.blazeface import SHORT_RANGE, BlazeFaceNetwork, as_full_range
from faceinsight.boxes import Box, largest_first, scaled, shared_fraction, weighted_nms
from faceinsight.images import bounded_copy, to_gray

HAAR = "haar"
BLAZEFACE = "blazeface"
BLAZEFACE_SHORT_RANGE = "blazeface_short_range"  # the second look's model, in the manifest's detectors
DETECTORS = (HAAR, BLAZEFACE)
MIN_FACE_SIDE = 20  # pixels: BlazeFace reports no smaller face (Haar's smallest is 24)


@dataclass(frozen=True)
class Detection:
    """One face found: its box and how sure the detector is of it (scores compare only
    within one detector: BlazeFace's are probabilities, Haar's are not)."""

    box: Box
    score: float


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Box]:
        """Boxes of the faces in an RGB or grayscale uint8 image, largest first."""
        ...

    def detect_scored(self, image: np.ndarray) -> list[Detection]:
        """The same faces with their scores, surest first."""
        ...


def _surest_first(detections) -> list[Detection]:
    return sorted(detections, key=lambda d: d.score, reverse=True)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade on an equalised grayscale copy of bounded size.

    :param max_side: longer side of the copy searched, in pixels.
    :param min_neighbors: the cascade's confidence threshold; higher finds fewer, surer faces.
    :param min_fraction: smallest face searched for, as a fraction of the shorter side.
    """

    name = HAAR
    MIN_PIXELS = 24
    CHECK_SIDE = 48  # a box is checked at this side at most (the cascade's window is 24 px)
    CHECK_SCALE_STEP = 1.2  # scales searched by a check, 0.6-1.8 times the box: seven of them

    def __init__(self, max_side: int = 640, min_neighbors: int = 5, min_fraction: float = 0.08):
        self.max_side, self.min_neighbors, self.min_fraction = max_side, min_neighbors, min_fraction
        self._local = threading.local()

    def _cascade(self) -> cv2.CascadeClassifier:
        """One cascade per thread: OpenCV's detector is not documented as thread-safe."""
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
            cascade = cv2.CascadeClassifier(str(path))
            if cascade.empty():
                raise RuntimeError(f"OpenCV could not load its Haar cascade from {path}")
            self._local.cascade = cascade
        return cascade

    def detect(self, image: np.ndarray) -> list[Box]:
        return largest_first(found.box for found in self.detect_scored(image))

    def detect_scored(self, image: np.ndarray) -> list[Detection]:
        """The faces with their scores, surest first. A face's score is its best window's sum
        over the cascade's last stage (OpenCV's "level weight"): how far past the last
        threshold it passed. The boxes are those of a plain ``detectMultiScale``."""
        small, factor = bounded_copy(to_gray(image), self.max_side)
        shorter = min(small.shape[:2])
        if shorter < self.MIN_PIXELS:
            return []
        min_side = max(self.MIN_PIXELS, int(shorter * self.min_fraction))
        found, _, weights = self._cascade().detectMultiScale3(
            cv2.equalizeHist(small), scaleFactor=1.1, minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side), outputRejectLevels=True)
        return _surest_first(Detection(scaled(box, factor), float(weight))
                             for box, weight in zip(found, np.ravel(weights), strict=True))

    def confirms(self, gray: np.ndarray, box: Box, min_neighbors: int = 1) -> bool:
        """Whether the cascade also finds a face of about ``box``'s size around ``box``.

        Searches only the box with 40 % of its side around it, shrunk so the box is at most
        :data:`CHECK_SIDE` pixels, for faces of 0.6-1.8 times its side in steps of
        :data:`CHECK_SCALE_STEP`: about half a millisecond whatever the face's size. Steps of
        1.2 with one neighbour kept as many faces as steps of 1.1 with two (96.8 against 97.0 %
        of UTKFace's) in half the time; cheaper settings each lost 0.5-1.5 points of faces.

        :param gray: the grayscale image the box was found in.
        :param box: ``(x, y, w, h)`` in that image's pixels.
        :param min_neighbors: the cascade's confidence threshold for this check.
        """
        x, y, w, h = box
        side = max(w, h, 1)
        margin = 0.4 * side
        x0, y0 = int(max(0, x - margin)), int(max(0, y - margin))
        x1, y1 = int(min(gray.shape[1], x + w + margin)), int(min(gray.shape[0], y + h + margin))
        region = gray[y0:y1, x0:x1]
        shrink = min(1.0, self.CHECK_SIDE / side)
        if shrink < 1.0 and region.size:
            region = cv2.resize(region, (max(1, round(region.shape[1] * shrink)),
                                         max(1, round(region.shape[0] * shrink))),
                                interpolation=cv2.INTER_AREA)
        side *= shrink
        smallest = max(self.MIN_PIXELS, int(0.6 * side))
        if min(region.shape[:2]) < smallest:
            return False
        largest = max(smallest, int(1.8 * side))
        return self._finds_face(cv2.equalizeHist(region), side, smallest, largest, min_neighbors)

    def _finds_face(self, region: np.ndarray, side: float, smallest: int, largest: int,
                    min_neighbors: int) -> bool:
        """Whether the cascade finds a face of ``smallest``-``largest`` pixels in ``region``:
        the answer of one search over those sizes, found sooner.

        The sizes near ``side`` are searched first, where a face usually is, and the rest only
        when those hold none. Each part returns its raw windows (no neighbours asked) and the
        windows gathered so far are grouped as the cascade groups them; a group, once formed,
        only grows as more windows come, so stopping at the first one gives the whole search's
        answer. A face costs about a quarter of the search (0.4 against 1.6 ms); a background
        box all of it, and about 0.1 ms more for the three calls.
        """
        near = (max(smallest, int(side / 1.2)), min(largest, int(side * 1.2)))
        parts = [near, (smallest, near[0] - 1), (near[1] + 1, largest)]
        windows: list = []
        for low, high in parts:
            if low > high:
                continue
            found = self._cascade().detectMultiScale(
                region, scaleFactor=self.CHECK_SCALE_STEP, minNeighbors=0,
                minSize=(low, low), maxSize=(high, high))
            windows += [list(map(int, w)) for w in found]
            if windows and len(cv2.groupRectangles(windows, min_neighbors, 0.2)[0]) > 0:
                return True
        return False


class BlazeFaceDetector:
    """MediaPipe's BlazeFace full-range model (192 px input, 2,304 anchors) on LiteRT, and its
    short-range model (128 px, 896 anchors) for a second look where the first finds no face.

    :param model: the full-range ``.tflite`` bytes (verified from the manifest by the caller);
        loaded once per thread that searches (photos are searched in parallel).
    :param short_range: the short-range model's bytes, for the second look
        (:meth:`_padded_look`); None: no second look.
    :param min_score: smallest face probability considered.
    :param sure_score: boxes scoring this or more are faces; boxes between ``min_score`` and
        this are kept only where the Haar cascade confirms them (:meth:`HaarDetector.confirms`).
        On 2,000 training-split UTKFace faces placed in 805 photos, 0.15 / 0.5 with the check
        found 96.8 % of the faces at 0.004 false detections per photo (with 1.2.0's slower check:
        97.0 %; 0.2: 96.6 %; 0.1: 97.4 % at 0.016); one threshold alone gave 96.0 % at 0.068
        (0.3) or 90.9 % at 0.001 (0.5).
        The false detections were all on the background, never a second box on a face.
    :param overlap: boxes overlapping more than this (IoU) are merged, weighted by score.
    :param min_side: smallest face kept, in pixels of the original image.
    :param tile_from: photos whose longer side is this or more are also searched in four (or,
        for a panorama, more) overlapping tiles (:meth:`tiles`); 0: never. The whole photo at
        192 px misses faces under about a tenth of its longer side: a group photo's faces
        (recall 0.79 -> 0.96 in 1280x960 photos, 0.64 -> 0.89 in 1200x600 ones, at 0-0.08 false
        detections a photo; measured in docs/models/detector.md). A box found only in a tile is always
        checked by the Haar cascade, and in a tiled photo every box is then looked at closer
        (:meth:`_closer_look`).
    :param fine_from: photos whose longer side is this or more are also searched in finer
        tiles, of 30 % of that side (:meth:`tiles`); 0: never. In 4000x3000 photos of 20
        training-split faces of 80-300 px, recall went from 0.50 to 0.88 (false detections 0.19
        -> 0.08 a photo); a 4032x3024 photo takes about 95 ms more (148 -> 241 ms end to end).
    """

    name = BLAZEFACE
    SAME_FACE_SHARE = 0.3  # an unsure box sharing this much of its area (or the kept box's) is that face
    TILE_SHARE = 0.6  # a tile's side, as a share of the photo's longer side (halves, overlapping)
    TILE_STEP = 0.8  # tiles start this share of their side apart (at least 20 % overlap)
    TILE_EDGE = 0.02  # a box this close to a tile's inner edge is a face cut by it: left to the next
    FINE_TILE_SHARE = 0.3  # the finer tiles' side, from fine_from on: a crowd's smaller faces
    CLOSER_SIDE = 3.0  # a closer look searches a square of this many times the box's side
    CLOSER_SCORE = 0.3  # ... for a face scoring this much there
    CLOSER_GROW = 0.25  # ... whose centre lies in the box grown by this share of its side
    PADDED_BORDER = 0.25  # a second look pads the image by this share of its longer side a side
    PADDED_MODE = cv2.BORDER_CONSTANT  # ... in black
    PADDED_MIN_SHARE = 0.4  # ... and keeps faces of this share of that side or more
    PADDED_MIN_SCORE = 0.4  # ... scoring this much, confirmed by the Haar check
    PADDED_SURE_SCORE = 0.7  # ... or this much

    def __init__(self, model: bytes, short_range: bytes | None = None, min_score: float = 0.15,
                 sure_score: float = 0.5, overlap: float = 0.3, min_side: int = MIN_FACE_SIDE,
                 tile_from: int = 960, fine_from: int = 2400):
        self.model, self.short_range = model, short_range
        self.min_score, self.sure_score = min_score, sure_score
        self.full = BlazeFaceNetwork(model, BLAZEFACE)
        self.close = None if short_range is None else BlazeFaceNetwork(
            short_range, BLAZEFACE_SHORT_RANGE, SHORT_RANGE)
        self.overlap, self.min_side, self.tile_from, self.fine_from = overlap, min_side, tile_from, fine_from
        self.checker = HaarDetector()

    def detect(self, image: np.ndarray) -> list[Box]:
        return largest_first(found.box for found in self.detect_scored(image))

    def detect_scored(self, image: np.ndarray, second_look: bool = True) -> list[Detection]:
        """The faces with their scores, surest first: each box's probability from the whole
        photo, or, in a tiled photo, from its closer look (:meth:`_closer_look`).

        :param second_look: where none is found, look again at a padded copy
            (:meth:`_padded_look`); False for that look itself.
        """
        found, scores = [], []
        tiled = bool(self.tiles(*image.shape[:2]))
        gray = functools.cache(lambda: to_gray(image))
        seen = bounded_copy(image, self.full.size)  # the whole image as the full-range model sees it
        for box, score in self._candidates(image, seen):  # surest first
            if not self._believed(box, score, self.sure_score, found, gray):
                continue
            if tiled:  # every box was seen at a quarter of its size or less: look closer
                closer = self._closer_look(image, box)
                if closer is None:
                    continue
                box, score = closer
                if min(box[2], box[3]) < self.min_side or self._same_face(box, found):
                    continue
            found.append(box)
            scores.append(score)
        if not found and second_look and self.close is not None:
            return self._padded_look(image, seen)
        return _surest_first(Detection(box, float(score)) for box, score in zip(found, scores, strict=True))

    def _believed(self, box: Box, score: float, sure_score: float, found: list[Box], gray) -> bool:
        """Whether a box is a face: as large as ``min_side``, and sure, or else apart from the
        faces ``found`` (a chin and neck below a face found is that face again, which the check
        would confirm) and confirmed by the Haar check on ``gray()``, the image in grey."""
        if min(box[2], box[3]) < self.min_side:
            return False
        return score >= sure_score or (not self._same_face(box, found)
                                       and self.checker.confirms(gray(), box))

    def _padded_look(self, image: np.ndarray,
                     seen: tuple[np.ndarray, float] | None = None) -> list[Detection]:
        """The faces of an image that a face fills, found by the short-range model in a copy
        with a black border: the second look when the first finds none. The full-range model
        misses a face that fills its input (it learnt faces at a distance): 35 % of UTKFace's
        200 px chips, a saved crop, an avatar, an ID photo. The copy the first look read is
        shrunk so that, padded by :data:`PADDED_BORDER` of its longer side on every side, it is
        the short-range model's 128 px input (a third of the full-range model's run), the face
        two thirds of it. A box is kept from :data:`PADDED_SURE_SCORE`, or from
        :data:`PADDED_MIN_SCORE` where the Haar check confirms it, if it spans
        :data:`PADDED_MIN_SHARE` of the longer side or more (a smaller face was the first look's),
        framed as the full-range model frames it (:func:`as_full_range`), mapped back (may pass the edge).
        Thresholds chosen on training-split faces; on validation ones, against the full-range
        model's look at an edge-repeating border: UTKFace chips found 0.994 -> 0.998, cut by an
        edge 0.948 -> 0.968, FER2013 enlarged 0.829 -> 0.958; 0.033 -> 0.030 false detections
        on images without a face, each taking +4.6 -> +2.0 ms (bench/bench_second_look.py).

        :param image: the image in which the first look found no face.
        :param seen: the copy of it the first look read whole and the factor mapping back
            (made here if not given).
        """
        border, close = self.PADDED_BORDER, self.close
        seen_copy, seen_factor = seen or bounded_copy(image, self.full.size)
        small, factor = bounded_copy(seen_copy, round(close.size / (1 + 2 * border)))
        factor *= seen_factor
        pad = max(1, round(border * max(small.shape[:2])))
        padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, self.PADDED_MODE, value=0)
        corners, scores = close.boxes(padded, self.min_score)
        smallest = self.PADDED_MIN_SHARE * max(small.shape[:2])
        gray = functools.cache(lambda: to_gray(padded))
        found, kept = [], []
        for (x0, y0, x1, y1), score in zip(*weighted_nms(corners, scores, self.overlap), strict=True):
            box = scaled((x0, y0, x1 - x0, y1 - y0), 1.0)
            if score < self.PADDED_MIN_SCORE or max(box[2:]) < smallest:
                continue
            if self._believed(box, score, self.PADDED_SURE_SCORE, found, gray):
                found.append(box)
                x, y, w, h = as_full_range(box)
                kept.append(Detection(scaled((x - pad, y - pad, w, h), factor), float(score)))
        return kept

    def _same_face(self, box: Box, found: list[Box]) -> bool:
        return any(shared_fraction(box, kept) >= self.SAME_FACE_SHARE for kept in found)

    def _closer_look(self, image: np.ndarray, box: Box) -> tuple[Box, float] | None:
        """In a tiled photo, a box's neighbourhood searched again at up to the model's full
        input: the surest face found there (scoring :data:`CLOSER_SCORE` or more) whose centre
        lies in the box, or a little outside it (its own, tighter box, and its score), or None.
        The whole photo and its tiles see a small person's head and shoulders as one face when
        the real face is under their resolution (a 160 px portrait in a 2400 px photo gave an
        82 px box over hair and shoulders, read as a sad man of 49), and the Haar check, which
        searches sizes near the box's, confirms it; this search sees the real face, or none
        (the box goes: a sure box too, such as a badge on a chest).

        :param image: the whole photo.
        :param box: ``(x, y, w, h)``, sure, or unsure and confirmed by the check.
        """
        x, y, w, h = box
        half = self.CLOSER_SIDE * max(w, h) / 2
        centre_x, centre_y = x + w / 2, y + h / 2
        left, top = int(max(0, centre_x - half)), int(max(0, centre_y - half))
        right = int(min(image.shape[1], centre_x + half))
        bottom = int(min(image.shape[0], centre_y + half))
        region = image[top:bottom, left:right]
        enlarge = self.full.size / max(region.shape[:2])  # a small box's region fills the input too
        if enlarge > 1:
            region = cv2.resize(region, (round(region.shape[1] * enlarge), round(region.shape[0] * enlarge)),
                                interpolation=cv2.INTER_LINEAR)
        corners, scores = self.full.boxes(region, self.min_score)
        corners = corners / max(enlarge, 1.0) + (left, top, left, top)
        centres = (corners[:, :2] + corners[:, 2:]) / 2
        grow = self.CLOSER_GROW * max(w, h)  # a head-and-shoulders box can start below the chin
        in_box = ((centres >= (x - grow, y - grow)) & (centres <= (x + w + grow, y + h + grow))).all(axis=1)
        inside = in_box & (scores >= self.CLOSER_SCORE)
        if not inside.any():
            return None
        merged, best = weighted_nms(corners[inside], scores[inside], self.overlap)
        x0, y0, x1, y1 = merged[0]  # the surest
        return scaled((x0, y0, x1 - x0, y1 - y0), 1.0), best[0]

    def _candidates(self, image: np.ndarray,
                    seen: tuple[np.ndarray, float] | None = None) -> list[tuple[Box, float]]:
        """Merged boxes scoring ``min_score`` or more, in the image's pixels, with their scores
        (a box found only in a tile scores under ``sure_score``, so that it is checked).

        :param seen: the image's copy of at most the model's side and the factor back (or made here).
        """
        height, width = image.shape[:2]
        seen_copy, seen_factor = seen or bounded_copy(image, self.full.size)
        whole = self.full.boxes(seen_copy, self.min_score, seen_factor)
        in_tiles = [self._tile_boxes(image, tile) for tile in self.tiles(height, width)]
        unsure = np.nextafter(self.sure_score, 0)
        corners = np.concatenate([whole[0], *(c for c, _ in in_tiles)])
        scores = np.concatenate([whole[1], *(np.minimum(s, unsure) for _, s in in_tiles)])
        if not len(scores):
            return []
        merged, best = weighted_nms(corners, scores, self.overlap)
        return [(scaled((x0, y0, x1 - x0, y1 - y0), 1.0), score)
                for (x0, y0, x1, y1), score in zip(merged, best, strict=True)]

    def _tile_boxes(self, image: np.ndarray, tile: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The full-range model's boxes in one tile, in the image's pixels, less those cut by its
        inner edges."""
        x, y, side = tile
        height, width = image.shape[:2]
        corners, scores = self.full.boxes(image[y:y + side, x:x + side], self.min_score)
        margin = self.TILE_EDGE * side
        cut = (((corners[:, 0] < margin) & (x > 0)) | ((corners[:, 1] < margin) & (y > 0))
               | ((corners[:, 2] > side - margin) & (x + side < width))
               | ((corners[:, 3] > side - margin) & (y + side < height)))
        return corners[~cut] + (x, y, x, y), scores[~cut]

    def tiles(self, height: int, width: int) -> list[tuple[int, int, int]]:
        """The square tiles ``(x, y, side)`` searched besides the whole photo: none below
        ``tile_from``; else sides of 60 % of the longer side (at most the shorter side): 2 x 2
        for a 4:3 photo. From ``fine_from`` on, also tiles of 30 % of it (4 x 3 for 4:3) for
        a crowd's smaller faces, where those are smaller than the first ones (not in a
        panorama, whose tiles are already as tall as the photo)."""
        longer = max(height, width)
        if not self.tile_from or longer < self.tile_from:
            return []
        tiles = self._grid(height, width, self.TILE_SHARE)
        if self.fine_from and longer >= self.fine_from:
            fine = self._grid(height, width, self.FINE_TILE_SHARE)
            if fine[0][2] < self.TILE_STEP * tiles[0][2]:
                tiles += fine
        return tiles

    def _grid(self, height: int, width: int, share: float) -> list[tuple[int, int, int]]:
        """Square tiles of ``share`` of the longer side (at most the shorter side), at least a
        fifth overlapping, spread evenly from edge to edge."""
        side = int(min(height, width, share * max(height, width)))

        def starts(length: int) -> list[int]:
            if length <= side:
                return [0]
            count = math.ceil((length - side) / (self.TILE_STEP * side)) + 1
            return [round(i * (length - side) / (count - 1)) for i in range(count)]

        return [(x, y, side) for y in starts(height) for x in starts(width)]
