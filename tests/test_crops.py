"""The one crop: sizes, shipped geometry, rotation and edges."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceinsight import crops, images
from faceinsight.analyze import locate_faces
from faceinsight.crops import WHOLE_BOX, Framing
from faceinsight.detectors import HaarDetector
from faceinsight.models import FaceModels

# --- crops ----------------------------------------------------------------------------------


def test_crops_have_the_model_sizes_and_are_equalised(astronaut_crops) -> None:
    assert astronaut_crops.age_gender.shape == (128, 128)
    assert astronaut_crops.emotion.shape == (48, 48)
    for crop in (astronaut_crops.age_gender, astronaut_crops.emotion):
        assert crop.dtype == np.uint8
        assert crop.min() <= 10 and crop.max() >= 245  # equalisation spreads the histogram
        assert np.array_equal(crop, crops.prepare_crop(crop, crop.shape[0]))  # idempotent


def test_crops_use_the_geometry_the_manifest_ships(astronaut: np.ndarray, models: FaceModels) -> None:
    gray = images.to_gray(astronaut)
    face = locate_faces(astronaut, models).crops[0]
    expected = crops.crop_face(gray, face.box, models.framing.age_gender, 128)
    assert np.array_equal(face.age_gender, expected)
    assert not np.array_equal(face.age_gender, crops.crop_face(gray, face.box, WHOLE_BOX, 128))


def test_geometry_scales_and_shifts_the_square_from_the_box() -> None:
    geometry = crops.CropGeometry(scale=1.5, dx=0.1, dy=-0.2)
    assert geometry.square((100, 50, 40, 20)) == pytest.approx((124.0, 52.0, 60.0))
    assert WHOLE_BOX.square((0, 0, 10, 10)) == (5.0, 5.0, 10.0)


def test_crop_face_without_rotation_is_the_resized_square(astronaut: np.ndarray) -> None:
    gray = images.to_gray(astronaut)
    crop = crops.crop_face(gray, (100, 60, 200, 200), crops.CropGeometry(0.5), 64)
    assert np.array_equal(crop, crops.prepare_crop(gray[110:210, 150:250], 64))


def test_crop_face_rotation_turns_the_crop(astronaut: np.ndarray) -> None:
    gray = images.to_gray(astronaut)
    plain = crops.crop_face(gray, (150, 50, 140, 140), WHOLE_BOX, 128, angle=0.0)
    turned = crops.crop_face(gray, (150, 50, 140, 140), WHOLE_BOX, 128, angle=90.0)
    assert turned.shape == (128, 128)
    quarter = cv2.equalizeHist(np.rot90(cv2.resize(gray[50:190, 150:290], (128, 128))))
    assert np.abs(turned.astype(int) - quarter.astype(int)).mean() < 12
    assert np.abs(turned.astype(int) - plain.astype(int)).mean() > 30


def test_crop_box_inside_the_image_is_a_plain_slice() -> None:
    gray = np.arange(100, dtype=np.uint8).reshape(10, 10)
    assert np.array_equal(crops.crop_box(gray, (2, 3, 4, 5)), gray[3:8, 2:6])


@pytest.mark.parametrize("box", [(-5, -5, 10, 10), (6, 6, 10, 10), (-3, 4, 20, 3), (-20, -20, 50, 50)])
def test_crop_box_pads_at_the_edges_by_replication(box: tuple[int, int, int, int]) -> None:
    gray = np.arange(100, dtype=np.uint8).reshape(10, 10)
    crop = crops.crop_box(gray, box)
    x, y, w, h = box
    assert crop.shape == (h, w)
    rows = np.clip(np.arange(y, y + h), 0, 9)
    cols = np.clip(np.arange(x, x + w), 0, 9)
    assert np.array_equal(crop, gray[np.ix_(rows, cols)])


def test_face_at_the_image_edge_still_gives_full_crops(astronaut: np.ndarray) -> None:
    gray = images.to_gray(astronaut)
    x, y, w, h = HaarDetector().detect(gray)[0]
    corner = gray[y + 10:, x + 10:]  # the face now runs off the top-left edge
    face = crops.crops_for_box(corner, (-10, -10, w, h), Framing())
    assert face.age_gender.shape == (128, 128) and face.emotion.shape == (48, 48)


@settings(max_examples=200, deadline=None)
@given(x=st.integers(-60, 60), y=st.integers(-60, 60), w=st.integers(1, 80), h=st.integers(1, 80))
def test_crop_box_always_has_the_box_shape(x: int, y: int, w: int, h: int) -> None:
    gray = np.arange(20 * 30, dtype=np.int32).reshape(20, 30)
    crop = crops.crop_box(gray, (x, y, w, h))
    rows, cols = np.clip(np.arange(y, y + h), 0, 19), np.clip(np.arange(x, x + w), 0, 29)
    assert np.array_equal(crop, gray[np.ix_(rows, cols)])
