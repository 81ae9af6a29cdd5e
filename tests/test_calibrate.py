"""Calibration: the chip square measured relative to a detector's box."""

from __future__ import annotations

import numpy as np
import pytest

from faceinsight.crops import CropGeometry
from faceinsight.eval import calibrate


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


def test_training_faces_in_photos_lie_where_their_squares_say(tmp_path, astronaut: np.ndarray) -> None:
    """``--age-gender-in-photos`` calibrates on training-split chips placed into 640x480 photos
    as the evaluation places them; each square must hold its chip."""
    from PIL import Image

    from faceinsight.datasets import VAL_FRACTION, is_validation_name

    chip = astronaut[40:240, 130:330]  # the face, 200 px as UTKFace's chips
    names = [f"{20 + i}_{i % 2}_0_2017011617452{i:04d}.jpg.chip.jpg" for i in range(12)]
    for name in names:
        Image.fromarray(chip).save(tmp_path / name, quality=95)
    training = [n for n in names if not is_validation_name(n, VAL_FRACTION)]
    photos = calibrate.utkface_photos(tmp_path, 100, seed=1)
    squares = [square for _, placed in photos for square in placed]
    assert len(squares) == len(training) and all(image.shape == (480, 640, 3) for image, _ in photos)
    for image, placed in photos:
        for x, y, side, _ in placed:
            assert 60 <= side <= 250 and x + side <= 640 and y + side <= 480
            middle = image[y + side // 4:y + 3 * side // 4, x + side // 4:x + 3 * side // 4]
            face = np.asarray(Image.fromarray(chip).resize((side, side)))[side // 4:3 * side // 4,
                                                                            side // 4:3 * side // 4]
            assert np.abs(middle.astype(int) - face).mean() < 12  # the chip, not the background
