"""Face boxes ``(x, y, w, h)`` in an image's pixels: overlap, merging, clipping and the order
faces are numbered in. Every module that compares or orders boxes uses these."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height


def iou(a: Box | list[int], b: Box | list[int]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = min(ax + aw, bx + bw) - max(ax, bx)
    height = min(ay + ah, by + bh) - max(ay, by)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / float(aw * ah + bw * bh - inter)



def shared_fraction(a: Box, b: Box) -> float:
    """The area two boxes share, as a fraction of the smaller one's."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    return width * height / max(1, min(a[2] * a[3], b[2] * b[3]))



def weighted_nms(corners: np.ndarray, scores: np.ndarray,
                 overlap: float) -> tuple[list[np.ndarray], list[float]]:
    """MediaPipe's weighted non-maximum suppression: each kept box is the score-weighted mean
    of the boxes it overlaps, which steadies boxes from frame to frame.

    :param corners: (N, 4) boxes ``x0, y0, x1, y1``.
    :param scores: (N,) their scores.
    :param overlap: boxes with IoU above this belong to the same face.
    :returns: the merged boxes and the highest score in each one's group.
    """
    order = np.argsort(-scores)
    corners, scores = corners[order], scores[order]
    areas = np.prod(np.clip(corners[:, 2:] - corners[:, :2], 0, None), axis=1)
    remaining = np.ones(len(scores), bool)
    merged, best = [], []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        top_left = np.maximum(corners[i, :2], corners[:, :2])
        bottom_right = np.minimum(corners[i, 2:], corners[:, 2:])
        inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        iou = inter / np.maximum(areas[i] + areas - inter, 1e-9)
        group = remaining & (iou > overlap)
        group[i] = True
        weights = scores[group][:, None]
        merged.append((corners[group] * weights).sum(axis=0) / weights.sum())
        best.append(float(scores[i]))
        remaining &= ~group
    return merged, best


def scaled(box: Iterable[float], factor: float) -> Box:
    """A box found on a copy shrunk by ``factor`` (:func:`faceinsight.images.bounded_copy`), in the
    original image's whole pixels."""
    return tuple(int(round(v * factor)) for v in box)  # type: ignore[return-value]


def largest_first(boxes: Iterable[Box]) -> list[Box]:
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)



ROW_SHARE = 0.5  # faces whose vertical centres lie within this share of a face height share a row


def clip_box(box: Box, width: int, height: int) -> Box:
    """The part of ``box`` inside a ``width`` x ``height`` image (a face cut by the photo's
    edge has a detector box reaching past it; clients crop and draw with what we report).
    A box wholly outside keeps a side of one pixel at the nearest edge."""
    x, y, w, h = box
    x0, y0 = min(max(0, x), width - 1), min(max(0, y), height - 1)
    x1, y1 = max(min(width, x + w), x0 + 1), max(min(height, y + h), y0 + 1)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def reading_order(boxes: Sequence[Box]) -> list[int]:
    """The order faces are numbered in, as indices into ``boxes``: rows from top to bottom,
    each row left to right, as text is read.

    A face joins the row above when its vertical centre lies within :data:`ROW_SHARE` of a face
    height (the two faces' mean: the row's and its own) of the row's mean centre; a row's faces
    then go by their horizontal centres.

    :param boxes: ``(x, y, w, h)`` boxes.
    """
    by_centre = sorted(range(len(boxes)), key=lambda i: boxes[i][1] + boxes[i][3] / 2)
    rows: list[list[int]] = []
    for index in by_centre:
        _, y, _, height = boxes[index]
        if rows:
            row = rows[-1]
            row_centre = statistics.fmean(boxes[i][1] + boxes[i][3] / 2 for i in row)
            row_height = statistics.fmean(boxes[i][3] for i in row)
            if abs(y + height / 2 - row_centre) <= ROW_SHARE * (height + row_height) / 2:
                row.append(index)
                continue
        rows.append([index])
    return [i for row in rows for i in sorted(row, key=lambda i: boxes[i][0] + boxes[i][2] / 2)]
