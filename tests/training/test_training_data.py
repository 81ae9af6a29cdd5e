"""Training inputs: dataset names and splits, crop weights, augmentation, batches, and faces
framed as serving frames them. The Keras-backed tests need TensorFlow (requirements-train.txt)
and are marked ``needs_tensorflow``; the numpy-only tests always run.
"""

from __future__ import annotations

import numpy as np
import pytest

from faceinsight import images
from faceinsight.datasets import UTKFaceRecord, is_validation_name, parse_utkface_name
from faceinsight.detectors import HaarDetector
from faceinsight.labels import AGE_BANDS, age_band
from faceinsight.training.augment import augment_batch
from faceinsight.training.datasets import split_by_name

needs_tensorflow = pytest.mark.usefixtures("tensorflow")

# --- UTKFace names --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("26_1_2_20170116174525125.jpg.chip.jpg", (26, 1, 2)),
    ("1_0_4_20161221193016140.jpg.chip.jpg", (1, 0, 4)),
    # The irregular names the dataset's README lists:
    ("39_1_20170116174525125.jpg.chip.jpg", (39, 1, -1)),  # no race field
    ("61_1_20170109150557335.jpg.chip.jpg", (61, 1, -1)),
    ("24_0_1_20170116220224657 .jpg.chip.jpg", (24, 0, 1)),  # a space before .jpg
    ("55_0_0_20170116232725357jpg.chip.jpg", (55, 0, 0)),  # no dot before jpg
    ("28_1_2_201701161846515488.jpg.chip.jpg", (28, 1, 2)),  # an 18-digit date
    ("30_1_x_20170116174525125.jpg.chip.jpg", (30, 1, -1)),  # an unreadable race
])
def test_parse_utkface_name(name: str, expected: tuple[int, int, int]) -> None:
    record = parse_utkface_name(name)
    assert record == UTKFaceRecord(name, *expected)


@pytest.mark.parametrize("name", ["", "README.txt", ".DS_Store", "x_1_2_2017.jpg.chip.jpg",
                                  "30_2_0_20170116174525125.jpg.chip.jpg", "-3_0_0_2017.jpg",
                                  "30.jpg"])
def test_unreadable_utkface_names_are_skipped(name: str) -> None:
    assert parse_utkface_name(name) is None


# --- split, weights, targets, augmentation --------------------------------------------------


def test_split_by_name_is_disjoint_complete_and_independent_of_the_other_files() -> None:
    names = [f"{20 + i % 50}_{i % 2}_0_2017011617452{i:04d}.jpg.chip.jpg" for i in range(2000)]
    train, val = split_by_name(names, 0.15)
    assert not set(train) & set(val) and sorted([*train, *val]) == list(range(2000))
    assert 0.12 < len(val) / len(names) < 0.18
    # a packed training subset (re-encoded as name + '.webp') keeps every file's side
    subset = [names[i] + ".webp" for i in train[:300]]
    assert len(split_by_name(subset, 0.15)[1]) == 0
    assert all(is_validation_name(names[i] + ".webp", 0.15) for i in val)


def test_band_weights_have_mean_one_and_favour_rare_bands() -> None:
    from faceinsight.training.train_age_gender import band_weights

    ages = np.array([30] * 80 + [5] * 10 + [70] * 5 + [15] * 5)
    weights = band_weights(ages)
    assert weights.shape == (100,) and weights.dtype == np.float32
    assert weights.mean() == pytest.approx(1.0, abs=1e-6)
    by_age = {age: float(weights[ages == age][0]) for age in (30, 5, 70, 15)}
    assert by_age[70] > by_age[5] > by_age[30]
    assert by_age[5] / by_age[30] == pytest.approx((0.80 / 0.10) ** 0.5, rel=1e-5)
    for age in (30, 5, 70, 15):  # one weight per band
        assert np.all(weights[ages == age] == by_age[age])


def test_band_weights_of_one_band_are_all_one() -> None:
    from faceinsight.training.train_age_gender import band_weights

    assert np.allclose(band_weights(np.array([25, 30, 33, 39])), 1.0)
    assert {age_band(a) for a in (0, 12, 13, 19, 20, 39, 40, 59, 60, 116)} == {b[0] for b in AGE_BANDS}


def test_augment_batch_shape_dtype_range_and_seed() -> None:
    images = np.random.default_rng(0).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    first = augment_batch(images, np.random.default_rng(5), shift=4)
    again = augment_batch(images, np.random.default_rng(5), shift=4)
    assert first.shape == (6, 48, 48, 1) and first.dtype == np.float32
    assert first.min() >= 0.0 and first.max() <= 255.0
    assert np.array_equal(first, again)
    assert not np.array_equal(first[..., 0], images.astype(np.float32))


def test_augment_batch_keeps_a_flat_image_flat() -> None:
    flat = np.full((3, 16, 16), 128, np.uint8)
    out = augment_batch(flat, np.random.default_rng(1), shift=3)
    assert np.allclose(out, 128.0)


def test_rotation_and_zoom_move_a_centred_line() -> None:
    line = np.zeros((8, 48, 48), np.uint8)
    line[:, 23:25, 8:40] = 255  # a horizontal bar through the centre: flips leave it alone
    plain = augment_batch(line, np.random.default_rng(2), shift=0)[..., 0]
    assert np.all(plain[:, 23:25, 8:40] > 128) and np.all(plain[:, :20] < 128)
    turned = augment_batch(line, np.random.default_rng(2), shift=0, rotate=30)[..., 0]
    bright_rows = [np.unique(np.nonzero(image > 128)[0]) for image in turned]
    assert all(rows.size > 2 for rows in bright_rows)  # tilted: the bar spans more rows
    assert all(abs(rows.mean() - 23.5) < 1.5 for rows in bright_rows)  # about the centre
    zoomed = augment_batch(line, np.random.default_rng(2), shift=0, zoom=0.4)[..., 0]
    lengths = {int((image[24] > 128).sum()) for image in zoomed}
    assert len(lengths) > 1  # the bar is longer or shorter crop by crop


def test_random_erasing_fills_one_rectangle_per_erased_crop() -> None:
    flat = np.full((20, 48, 48), 128, np.uint8)
    out = augment_batch(flat, np.random.default_rng(3), shift=0, erase=1.0)[..., 0]
    for image in out:
        rows, cols = np.nonzero(image != 128.0)
        height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
        assert rows.size == height * width  # one solid rectangle
        assert 0.01 <= rows.size / image.size <= 0.3
    never = augment_batch(flat, np.random.default_rng(3), shift=0, erase=0.0)
    assert np.allclose(never, 128.0)


@needs_tensorflow
def test_augmented_batches_cover_every_crop() -> None:
    from faceinsight.training.batches import AugmentedBatches

    images = np.zeros((10, 12, 12), np.uint8)
    for label in range(10):
        images[label, label] = 255  # crop n has row n bright: survives flips and contrast
    batches = AugmentedBatches(images, np.arange(10), batch_size=4, seed=0, shift=0,
                               sample_weight=np.ones(10, np.float32))
    assert len(batches) == 3
    seen = []
    for index in range(len(batches)):
        x, y, weight = batches[index]
        assert x.shape[1:] == (12, 12, 1) and len(y) == len(weight) == len(x)
        assert x[..., 0].mean(axis=2).argmax(axis=1).tolist() == list(y)  # labels stay with crops
        seen += list(y)
    assert sorted(seen) == list(range(10)) and seen != list(range(10))  # shuffled, all there


@needs_tensorflow
def test_evaluation_batches_are_plain_and_in_order() -> None:
    from faceinsight.training.batches import AugmentedBatches

    images = np.random.default_rng(2).integers(0, 256, (5, 8, 8), dtype=np.uint8)
    batches = AugmentedBatches(images, np.arange(5), batch_size=4, seed=0, shift=2, augment=False)
    x, y = batches[0]
    assert np.array_equal(x[..., 0], images[:4].astype(np.float32)) and list(y) == [0, 1, 2, 3]


@needs_tensorflow
def test_framed_batches_cut_jittered_crops_through_the_serving_crop(astronaut: np.ndarray) -> None:
    """Training crops vary like a detector's box does, yet stay on the face; evaluation crops
    are the plain chip, exactly what crop_face makes."""
    from faceinsight.crops import WHOLE_BOX, crop_face
    from faceinsight.datasets import chip_box, chip_in_context
    from faceinsight.training.augment import BoxJitter
    from faceinsight.training.batches import FramedBatches

    gray = images.to_gray(astronaut)
    x, y, w, h = HaarDetector().detect(gray)[0]
    contexts = np.stack([chip_in_context(gray[y:y + h, x:x + w])] * 8)
    targets = np.arange(8, dtype=np.float32)
    plain = FramedBatches(contexts, chip_box(), targets, 4, 0, 128, None)
    crops, labels = plain[1]
    assert crops.shape == (4, 128, 128, 1) and list(labels) == [4, 5, 6, 7]
    assert np.array_equal(crops[0, ..., 0], crop_face(contexts[0], chip_box(), WHOLE_BOX, 128))
    varied = FramedBatches(contexts, chip_box(), targets, 8, 0, 128, BoxJitter(), background=0.5,
                           low_resolution=0.5)
    jittered, _ = varied[0]
    again, _ = varied[0]
    assert np.array_equal(jittered, again)  # seeded per batch: repeatable with worker threads
    differences = [np.abs(jittered[i] - crops[0]).mean() for i in range(8)]
    assert all(d > 1 for d in differences)  # every crop varied
    assert all(np.corrcoef(jittered[i].ravel(), crops[0].ravel())[0, 1] > 0.3 for i in range(8))


def _face_and_blank_in_context(astronaut: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The astronaut's face as a 96 px chip in a mirrored border, beside a blank image of the
    same size, and where the chip lies in both."""
    from faceinsight.datasets import chip_box, chip_in_context

    gray = images.to_gray(astronaut)
    x, y, w, h = HaarDetector().detect(gray)[0]
    face = chip_in_context(gray[y - h // 4:y + h + h // 4, x - w // 4:x + w + w // 4], 96, 32)
    return np.stack([face, np.full_like(face, 128)]), chip_box(96, 32)


def test_a_face_pasted_into_a_photo_keeps_its_middle_over_a_new_background(astronaut: np.ndarray) -> None:
    """``--paste`` sets the chip before the evaluation's kind of background: the face's middle
    stays, its mirrored surroundings are gone, its edge fades into the new background."""
    import cv2

    from faceinsight.eval.scenes import background
    from faceinsight.training.augment import (
        PASTED_BOX_SCALE,
        BoxJitter,
        jittered_crops,
        pasted_in_photo,
        scaled_box,
    )

    contexts, chip = _face_and_blank_in_context(astronaut)
    x, y, side, _ = chip
    pasted = pasted_in_photo(contexts[0], chip, np.random.default_rng(3))
    assert pasted.shape == contexts[0].shape and pasted.dtype == np.uint8
    middle = (slice(y + side // 4, y + 3 * side // 4), slice(x + side // 4, x + 3 * side // 4))
    assert np.abs(pasted[middle].astype(int) - contexts[0][middle]).max() <= 1
    height, width = pasted.shape
    new = cv2.cvtColor(background(np.random.default_rng(3), (width, height)), cv2.COLOR_RGB2GRAY)
    outside = np.ones(pasted.shape, bool)
    outside[y:y + side, x:x + side] = False
    assert np.array_equal(pasted[outside], new[outside])
    edge = pasted[y + side // 2, x + 1].astype(int)  # the chip's faded edge lies between both
    assert min(contexts[0][y + side // 2, x + 1], new[y + side // 2, x + 1]) - 1 <= edge
    assert edge <= max(contexts[0][y + side // 2, x + 1], new[y + side // 2, x + 1]) + 1
    # Training crops: a blank face stays flat unless it is pasted, when the new background
    # shows through its faded edge.
    blank = np.stack([contexts[1]] * 4)
    boxes = np.tile(np.asarray(chip, np.float64), (4, 1))
    still = BoxJitter(0.0, 0.0, 0.0)
    plain = jittered_crops(blank, boxes, 48, np.random.default_rng(0), still)
    pasted_crops = jittered_crops(blank, boxes, 48, np.random.default_rng(0), still, paste=1.0, chip=chip)
    assert plain.std(axis=(1, 2, 3)).max() == 0 and pasted_crops.std(axis=(1, 2, 3)).min() > 5
    # ...framed tighter, as the detector frames a pasted face
    assert scaled_box((10.0, 20.0, 100.0, 50.0), 0.9) == pytest.approx((15.0, 22.5, 90.0, 45.0))
    assert 0.9 < PASTED_BOX_SCALE < 1.0


@needs_tensorflow
def test_detector_framed_boxes_frame_each_face_as_serving_does(astronaut: np.ndarray) -> None:
    """Each training face gets the crop square serving would cut (the served detector's box,
    framed by the model's geometry); a face the detector misses keeps its own chip; batches
    cut every face at its own box."""
    from faceinsight.crops import WHOLE_BOX, crop_face
    from faceinsight.models import MODELS_DIR, FaceModels
    from faceinsight.training.batches import FramedBatches
    from faceinsight.training.framing import detector_framed_boxes

    models = FaceModels(MODELS_DIR)
    contexts, chip = _face_and_blank_in_context(astronaut)
    boxes, found = detector_framed_boxes(contexts, chip, models.detector, models.framing.emotion)
    assert found == 0.5 and tuple(boxes[1]) == chip  # the blank image keeps its chip
    bx, by, side, _ = boxes[0]
    assert boxes[0][2] == boxes[0][3] and 0.4 * 96 < side < 96  # the face, inside its chip
    assert abs(bx + side / 2 - 80) < 10 and abs(by + side / 2 - 80) < 15
    crops, _ = FramedBatches(contexts, boxes, np.arange(2), 2, 0, 48, None)[0]
    for index in range(2):
        expected = crop_face(contexts[index], tuple(boxes[index]), WHOLE_BOX, 48)
        assert np.array_equal(crops[index, ..., 0], expected)


def test_detections_of_training_faces_are_kept_between_rounds(astronaut: np.ndarray, tmp_path) -> None:
    """A round finds the boxes an earlier round found on the same faces in its cache, and a
    detector set differently, or other faces, are not served another's boxes."""
    from faceinsight.detectors import BlazeFaceDetector
    from faceinsight.models import MODELS_DIR, FaceModels
    from faceinsight.training.framing import cached_detections, detections_on_chips, detector_fingerprint

    detector = FaceModels(MODELS_DIR).detector
    contexts, chip = _face_and_blank_in_context(astronaut)
    first = cached_detections(contexts, chip, detector, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, detections_on_chips(contexts, chip, detector))
    assert not np.isnan(first[0]).any() and np.isnan(first[1]).all()  # the face; the blank image
    (saved,) = tmp_path.glob("detections-*.npy")
    np.save(saved, first + 1.0)  # a round that reads the cache gets the cache's boxes
    again = cached_detections(contexts, chip, detector, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, first + 1.0)
    others = cached_detections(contexts[::-1].copy(), chip, detector, cache_dir=tmp_path)
    np.testing.assert_array_equal(others, first[::-1])
    if isinstance(detector, BlazeFaceDetector):
        stricter = BlazeFaceDetector(detector.model, min_score=0.4)
        assert detector_fingerprint(stricter) != detector_fingerprint(detector)
    assert detector_fingerprint(HaarDetector(min_neighbors=3)) != detector_fingerprint(HaarDetector())
    if isinstance(detector, BlazeFaceDetector):  # its Haar check decides boxes too
        checked = BlazeFaceDetector(detector.model)
        checked.checker = HaarDetector(max_side=320)
        assert detector_fingerprint(checked) != detector_fingerprint(detector)

        class Looser(BlazeFaceDetector):  # its class's settings decide boxes too: the second look's
            PADDED_MIN_SHARE = 0.3

        assert detector_fingerprint(Looser(detector.model)) != detector_fingerprint(detector)
    assert detector_fingerprint(HaarDetector()) == detector_fingerprint(HaarDetector())


def test_both_scripts_frame_training_faces_with_their_own_models_geometry(astronaut: np.ndarray,
                                                                          tmp_path) -> None:
    """``--detector-framing`` is one option of both scripts; each frames a face with its own
    model's geometry (age/gender tighter than emotion for BlazeFace), and without it every
    face keeps its chip."""
    from faceinsight.models import MODELS_DIR, FaceModels
    from faceinsight.training import train_age_gender, train_emotion
    from faceinsight.training.framing import served_boxes

    contexts, chip = _face_and_blank_in_context(astronaut)
    framing = ["--data", "x", "--detector-framing", str(MODELS_DIR), "--cache", str(tmp_path)]
    age_args, emotion_args = train_age_gender.parse_args(framing), train_emotion.parse_args(framing)
    age_boxes = served_boxes(age_args, contexts, chip, "age_gender")
    emotion_boxes = served_boxes(emotion_args, contexts, chip, "emotion")
    geometry = FaceModels(MODELS_DIR).framing
    assert geometry.age_gender.scale < geometry.emotion.scale
    assert age_boxes[0][2] < emotion_boxes[0][2]  # the same detected box, framed per model
    assert tuple(age_boxes[1]) == tuple(emotion_boxes[1]) == chip  # no face found: its chip
    assert served_boxes(train_age_gender.parse_args(["--data", "x"]), contexts, chip, "age_gender") == chip
