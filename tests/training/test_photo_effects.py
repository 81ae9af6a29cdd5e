"""Real photos' effects on training faces: each one changes the face as its name says, and
none is drawn when the option is off, so earlier training runs repeat exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from faceinsight.training import photo_effects as effects
from faceinsight.training.augment import BoxJitter, jittered_crops

BOX = (80.0, 60.0, 120.0, 120.0)


@pytest.fixture()
def face() -> np.ndarray:
    """A grey face in context: the astronaut's, 280 x 240."""
    return np.ascontiguousarray(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)[0:240, 90:370])


def detail(image: np.ndarray) -> float:
    """The face box's fine detail: the spread of its Laplacian."""
    x, y, w, h = (int(v) for v in BOX)
    return float(cv2.Laplacian(image[y:y + h, x:x + w].astype(np.float32), cv2.CV_32F).std())


def test_blur_softens_and_noise_roughens_the_face(face):
    rng = np.random.default_rng(0)
    assert detail(effects.blur(face, BOX, rng)) < 0.8 * detail(face)
    assert detail(effects.sensor_noise(face, rng)) > detail(face)


def test_exposure_changes_the_light_and_jpeg_keeps_the_picture(face):
    rng = np.random.default_rng(1)
    lit = [effects.exposure(face, rng).mean() for _ in range(10)]
    assert max(lit) - min(lit) > 30
    saved = effects.jpeg(face, rng)
    assert saved.shape == face.shape and 0 < np.abs(saved.astype(int) - face).mean() < 8


def test_a_hand_or_glasses_hide_part_of_the_face_and_nothing_far_from_it(face):
    x, y, w, h = (int(v) for v in BOX)
    for seed in range(6):
        hidden = effects.occluded(face, BOX, np.random.default_rng(seed))
        changed = np.abs(hidden.astype(int) - face) > 10
        inside = changed[y:y + h, x:x + w].mean()
        assert 0.02 < inside < 0.45, (seed, inside)
        assert not changed[:, :x - 30].any() and not changed[:, x + w + 30:].any()


def test_a_turn_narrows_the_face_and_shortens_its_far_side():
    x, y, w, h = (int(v) for v in BOX)
    square = np.zeros((240, 280), np.uint8)
    square[y:y + h, x:x + w] = 255
    turned = effects.turned(square, BOX, np.random.default_rng(3)) > 128
    columns = np.flatnonzero(turned.any(axis=0))
    assert len(columns) < w and x <= columns[0] and columns[-1] < x + w  # narrower, about its box
    heights = turned[:, columns[[1, -2]]].sum(axis=0)
    assert min(heights) < 0.98 * h and max(heights) >= h - 2  # one side farther away


def test_off_draws_nothing_and_on_changes_the_crops(face):
    contexts, boxes = np.stack([face] * 4), np.array([BOX] * 4)

    def crops(**options) -> np.ndarray:
        rng = np.random.default_rng(7)
        return jittered_crops(contexts, boxes, 64, rng, BoxJitter(0.1, 0.05, 5), **options)

    assert np.array_equal(crops(), crops(photo=0.0))
    assert not np.array_equal(crops(), crops(photo=1.0))
