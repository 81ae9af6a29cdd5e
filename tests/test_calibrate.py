"""Calibration: the chip square measured relative to a detector's box."""

from __future__ import annotations

import numpy as np
import pytest

from faceinsight import calibrate
from faceinsight.pipeline import CropGeometry


class ShrinkingDetector:
    """Finds each planted face as a box 0.8 times the chip's side, 5 % of it lower."""

    name = "fake"

    def __init__(self, chips: list[tuple[int, int, int, int]]):
        self.chips = chips

    def detect(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        return [(round(x + 0.1 * s), round(y + 0.15 * s), round(0.8 * s), round(0.8 * s))
                for x, y, s, _ in self.chips]


def test_geometry_of_a_chip_relative_to_its_box() -> None:
    assert calibrate.chip_geometry((10, 20, 100, 100), (10, 20, 100, 100)) == (1.0, 0.0, 0.0)
    scale, dx, dy = calibrate.chip_geometry((20, 30, 80, 80), (10, 20, 100, 100))
    assert (scale, dx, dy) == pytest.approx((1.25, 0.0, 0.0))


def test_calibration_recovers_the_geometry_and_serving_inverts_it() -> None:
    chips = [(50, 40, 120, 120), (300, 200, 90, 90)]
    scenes = [(np.zeros((480, 640), np.uint8), chips)]
    found = calibrate.calibrate(scenes, ShrinkingDetector(chips))
    assert found["found"] == 1.0 and found["chips"] == 2
    assert (found["scale"], found["dx"], found["dy"]) == pytest.approx((1.25, 0.0, -0.0625), abs=0.01)
    geometry = CropGeometry(found["scale"], found["dx"], found["dy"])
    box = ShrinkingDetector(chips).detect(scenes[0][0])[0]
    cx, cy, side = geometry.square(box)
    assert (cx, cy, side) == pytest.approx((110, 100, 120), abs=1.5)  # the chip again


def test_a_face_the_detector_misses_is_not_counted() -> None:
    scenes = [(np.zeros((100, 100), np.uint8), [(10, 10, 50, 50)])]

    class Blind:
        name = "blind"

        def detect(self, image):
            return [(0, 0, 5, 5)]

    with pytest.raises(RuntimeError, match="found no face"):
        calibrate.calibrate(scenes, Blind())
