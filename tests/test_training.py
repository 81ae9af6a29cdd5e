"""Training code: name parsing, splits, weights, targets, augmentation, and a tiny end-to-end run.

The end-to-end run trains both models for one epoch on a few dozen images made from the
astronaut photo, writes the reports, converts to chunked .tflite files and loads them back,
so the training code cannot silently rot. It and the Keras-backed tests need TensorFlow
(requirements-train.txt) and are marked ``needs_tensorflow``; the numpy-only tests always run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from face_helpers import assert_face_contract, encode

from faceinsight import images
from faceinsight.datasets import UTKFaceRecord, is_validation_name, parse_utkface_name
from faceinsight.detectors import HaarDetector
from faceinsight.labels import AGE_BANDS, EMOTIONS, MAX_AGE, age_band
from faceinsight.training.augment import augment_batch
from faceinsight.training.datasets import split_by_name


@pytest.fixture(scope="session")
def tensorflow():
    """TensorFlow, or a skip saying what to install (only the tests that use Keras ask for it)."""
    return pytest.importorskip("tensorflow", reason="Keras training needs requirements-train.txt")


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


@needs_tensorflow
def test_age_targets_are_distributions_peaking_at_the_true_age() -> None:
    from keras import ops

    from faceinsight.training.losses import age_targets

    ages = np.array([0, 1, 8, 25, 61, 99, MAX_AGE], np.float32)
    targets = ops.convert_to_numpy(age_targets(ages))
    assert targets.shape == (len(ages), MAX_AGE + 1)
    assert np.allclose(targets.sum(axis=1), 1.0, atol=1e-5)
    assert targets.argmax(axis=1).tolist() == ages.astype(int).tolist()
    grid = np.arange(MAX_AGE + 1)
    spread = [np.sqrt((targets[i] * (grid - ages[i]) ** 2).sum()) for i in (2, 4)]
    assert spread[1] > spread[0]  # wider for older faces


@needs_tensorflow
def test_age_loss_prefers_the_right_age() -> None:
    from keras import ops

    from faceinsight.training.losses import age_distribution_loss, age_targets, expected_age

    true = np.array([30.0, 30.0], np.float32)
    right, wrong = ops.convert_to_numpy(age_targets(np.array([30.0, 60.0], np.float32)))
    loss = ops.convert_to_numpy(age_distribution_loss(true, np.stack([right, wrong])))
    assert loss[0] < loss[1]
    assert ops.convert_to_numpy(expected_age(right[None]))[0] == pytest.approx(30.0, abs=0.01)


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


# --- a tiny end-to-end run ------------------------------------------------------------------

UTK_NAMES = [
    "39_1_20170116174525125.jpg.chip.jpg",
    "24_0_1_20170116220224657 .jpg.chip.jpg",
    "55_0_0_20170116232725357jpg.chip.jpg",
    "28_1_2_201701161846515488.jpg.chip.jpg",
]
UTK_AGES = [2, 9, 15, 18, 23, 27, 31, 36, 42, 47, 53, 58, 64, 71, 78, 86, 95]


def variants(face: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
    """``count`` noisy, sometimes flipped, copies of an RGB face."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        noisy = face.astype(np.int16) + rng.normal(0, 12, face.shape).astype(np.int16)
        image = np.clip(noisy, 0, 255).astype(np.uint8)
        out.append(np.ascontiguousarray(image[:, ::-1] if rng.random() < 0.5 else image))
    return out


def fake_utkface(folder: Path, face: np.ndarray, count: int = 40) -> Path:
    """A flat UTKFace-style folder of 200 px chips, irregular names and a stray file included."""
    import cv2

    folder.mkdir(parents=True)
    chip = cv2.resize(face, (200, 200), interpolation=cv2.INTER_AREA)
    names = list(UTK_NAMES)
    for number in range(count - len(names)):
        age = UTK_AGES[number % len(UTK_AGES)]
        names.append(f"{age}_{number % 2}_{number % 5}_2017011617452{number:04d}.jpg.chip.jpg")
    for name, image in zip(names, variants(chip, count, seed=1), strict=True):
        (folder / name).write_bytes(encode(image, "JPEG", quality=90))
    (folder / "README.txt").write_text("not a chip\n")
    return folder


def fake_fer2013(folder: Path, face: np.ndarray, per_class: dict[str, int]) -> Path:
    """FER2013's image-folder layout: <split>/<emotion>/*.jpg, 48 px grayscale."""
    import cv2

    gray = cv2.resize(images.to_gray(face), (48, 48), interpolation=cv2.INTER_AREA)
    for split, count in per_class.items():
        for index, emotion in enumerate(EMOTIONS):
            target = folder / split / emotion
            target.mkdir(parents=True)
            for number, image in enumerate(variants(gray, count, seed=100 * index + len(split))):
                (target / f"{split}_{number}.jpg").write_bytes(encode(image, "JPEG", quality=90))
    return folder


@dataclass
class TinyRun:
    """Where the tiny training run put everything, and what it returned."""

    root: Path
    reports: Path
    age_gender_out: Path
    emotion_out: Path
    age_gender: dict
    emotion: dict


@pytest.fixture(scope="module")
def tiny_run(tensorflow, tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> TinyRun:
    """Train both models for one epoch on fake datasets made from the astronaut's face."""
    from faceinsight.training import train_age_gender, train_emotion

    root = tmp_path_factory.mktemp("training")
    gray = images.to_gray(astronaut)
    x, y, w, h = HaarDetector().detect(gray)[0]
    face = astronaut[y:y + h, x:x + w]
    utk = fake_utkface(root / "utkface", face)
    fer = fake_fer2013(root / "fer2013", face, {"train": 3, "val": 2})
    reports, cache = root / "reports", root / "cache"
    common = ["--epochs", "1", "--threads", "1", "--batch-size", "16", "--cache", str(cache),
              "--reports", str(reports)]
    age_gender = train_age_gender.main(["--data", str(utk), "--out", str(root / "age_gender"),
                                        "--val-fraction", "0.25", *common])
    emotion = train_emotion.main(["--data", str(fer), "--out", str(root / "emotion"), *common])
    return TinyRun(root, reports, root / "age_gender", root / "emotion", age_gender, emotion)


def test_training_writes_checkpoints_and_history(tiny_run: TinyRun) -> None:
    for out in (tiny_run.age_gender_out, tiny_run.emotion_out):
        assert (out / "best.keras").stat().st_size > 0
        history = json.loads((out / "history.json").read_text())
        assert len(history) == 1 and history[0]["epoch"] == 1
        assert json.loads((out / "run.json").read_text())["epochs_run"] == 1
    assert list((tiny_run.root / "cache").glob("*.npz"))  # decoded crops are cached


def test_training_writes_reports(tiny_run: TinyRun) -> None:
    metrics = json.loads((tiny_run.reports / "metrics.json").read_text())
    assert {"age_gender", "emotion", "targets", "floor"} <= set(metrics)
    age = metrics["age_gender"]["summary"]
    names = [p.name for p in (tiny_run.root / "utkface").iterdir() if p.name.endswith(".jpg")]
    assert age["validation_images"] == len(split_by_name(names, 0.25)[1]) > 0  # README skipped
    assert age["age_mae"] >= 0 and 0 <= age["gender_accuracy"] <= 1
    assert set(metrics["age_gender"]["age_mae_by_band"]) <= {b[0] for b in AGE_BANDS}
    emotion = metrics["emotion"]
    assert emotion["summary"]["validation_images"] == 2 * len(EMOTIONS)
    assert 0 <= emotion["summary"]["accuracy"] <= 1
    assert list(emotion["per_class"]) == list(EMOTIONS)
    assert tiny_run.emotion == emotion and tiny_run.age_gender == metrics["age_gender"]
    for png in ("emotion_confusion.png", "emotion_curves.png", "gender_confusion.png",
                "age_group_confusion.png", "age_gender_curves.png", "age_scatter.png"):
        assert (tiny_run.reports / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert "Model card" in (tiny_run.reports / "MODEL_CARD.md").read_text()


def test_convert_chunks_and_load(tiny_run: TinyRun, astronaut_crops) -> None:
    import convert_models
    from faceinsight.models import MODELS_DIR, FaceModels, ModelError, read_manifest

    models_dir = tiny_run.root / "models"
    chunk_mb = 0.5
    status = convert_models.main([
        "--age-gender", str(tiny_run.age_gender_out / "best.keras"),
        "--emotion", str(tiny_run.emotion_out / "best.keras"),
        "--models", str(models_dir), "--chunk-mb", str(chunk_mb),
        "--metrics", str(tiny_run.reports / "metrics.json"),
    ])
    assert status == 0
    manifest = read_manifest(models_dir)
    expected_validation = {"age_gender": tiny_run.age_gender["summary"],
                           "emotion": tiny_run.emotion["summary"]}
    for kind in ("age_gender", "emotion"):
        entry = manifest["models"][kind]
        assert len(entry["chunks"]) >= 2
        assert all(c["size"] <= chunk_mb * 2**20 for c in entry["chunks"])
        assert entry["max_difference_from_keras"] <= 0.02
        assert entry["validation"] == expected_validation[kind]
        assert not (models_dir / entry["file"]).exists()  # shipped as chunks only
    with pytest.raises(ModelError, match="no crop geometry for the 'haar' detector"):
        FaceModels(models_dir, detector="haar")  # never served with a framing it was not calibrated for
    shipped = read_manifest(MODELS_DIR)
    for kind in ("age_gender", "emotion"):
        manifest["models"][kind]["framing"] = shipped["models"][kind]["framing"]
    (models_dir / "manifest.json").write_text(json.dumps(manifest))
    loaded = FaceModels(models_dir, detector="haar")
    face = loaded.predict(astronaut_crops.age_gender, astronaut_crops.emotion)
    assert_face_contract({"box": list(astronaut_crops.box), **face})


def continue_training(tiny_run: TinyRun, script, start: Path, name: str, *extra: str) -> dict:
    """A second round of ``script`` from ``start`` at a learning rate of ~0; returns its report.

    A learning rate of ~0 leaves the loaded kernels as they were, which proves the weights were
    loaded: the round's best.keras is compared with ``start``.
    """
    import keras

    out = tiny_run.root / name
    section = script.main([
        "--out", str(out), "--reports", str(tiny_run.root / f"reports_{name}"),
        "--cache", str(tiny_run.root / "cache"), "--epochs", "1", "--threads", "1",
        "--batch-size", "16", "--learning-rate", "1e-12", "--init-weights", str(start), *extra,
    ])
    before = keras.saving.load_model(start, compile=False).get_layer("block0_conv0").get_weights()[0]
    after = keras.saving.load_model(out / "best.keras", compile=False).get_layer("block0_conv0")
    np.testing.assert_allclose(after.get_weights()[0], before, atol=1e-6)
    return section


def test_emotion_training_continues_from_a_checkpoint(tiny_run: TinyRun) -> None:
    """A second round starts from the first round's weights and the report counts both rounds."""
    from faceinsight.training import train_emotion

    section = continue_training(
        tiny_run, train_emotion, tiny_run.emotion_out / "best.keras", "emotion_round2",
        "--data", str(tiny_run.root / "fer2013"),
        "--rotate", "10", "--zoom", "0.1", "--erase", "0.5")
    out, reports = tiny_run.root / "emotion_round2", tiny_run.root / "reports_emotion_round2"
    training = section["training"]
    assert training["epochs"] == 2 and training["best_epoch"] == 2
    assert [r["epochs"] for r in training["rounds"]] == [1, 1]
    assert training["args"]["init_weights"] == "best.keras"  # a file name, not a machine path
    assert (out / "last.keras").exists() and (out / "best.keras").exists()
    card = (reports / "MODEL_CARD.md").read_text()
    assert "2 rounds" in card and str(tiny_run.root) not in card
    assert "then, from that round's best checkpoint with a fresh schedule" in card
    assert "rotation up to 10°, zoom up to 10 % and random erasing (half the crops)" in card


def test_card_names_the_checkpoint_each_round_started_from() -> None:
    """A round may start from the previous round's best checkpoint or from one of its epochs."""
    from faceinsight.training.model_card import _training_line, checkpoint_epoch

    def round_of(epochs: int, init: str | None) -> dict:
        args = {"learning_rate": "0.001", "threads": "2", "init_weights": str(init)}
        return {"epochs": epochs, "seconds": 600 * epochs, "args": args}

    rounds = [round_of(4, None), round_of(3, "best.keras"), round_of(2, "epoch_03.keras")]
    line = _training_line({"training": {"epochs": 9, "seconds": 5400, "rounds": rounds,
                                        "best_epoch": 9}})
    assert "in 3 rounds: 4 epochs" in line
    assert "then, from that round's best checkpoint with a fresh schedule, 3 epochs" in line
    assert "then, from that round's epoch 3 with a fresh schedule, 2 epochs" in line
    assert [checkpoint_epoch(Path(name)) for name in
            ("epoch_13.keras", "best.keras", "epoch_x.keras", "epoch_02.h5")] == [13, None, None, None]


def test_age_gender_training_continues_from_a_checkpoint(tiny_run: TinyRun) -> None:
    from faceinsight.training import train_age_gender

    section = continue_training(
        tiny_run, train_age_gender, tiny_run.age_gender_out / "best.keras", "age_gender_round2",
        "--data", str(tiny_run.root / "utkface"), "--val-fraction", "0.25")
    assert [r["epochs"] for r in section["training"]["rounds"]] == [1, 1]


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


@needs_tensorflow
def test_flip_averaged_model_averages_each_crop_with_its_own_mirror() -> None:
    import keras

    from faceinsight.training.architectures import flip_averaged, is_mirrored

    inputs = keras.Input((8, 8, 1))
    # A column-sensitive model: a dense layer over the flattened image.
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    crops = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    served = flip_averaged(model)
    expected = (model.predict(crops, verbose=0) + model.predict(crops[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(served.predict(crops, verbose=0), expected, rtol=1e-5, atol=1e-4)
    assert is_mirrored(served) and not is_mirrored(model)
    assert not np.allclose(model.predict(crops, verbose=0), expected, atol=1e-2)  # the flip matters


def test_flip_averaged_model_mirrors_after_its_scaling_and_pooling() -> None:
    """Scaling and 2x2 averaging run once, before the mirror is made (a cheaper batch of two),
    and the answers are still the mean of the crop's and its mirror's."""
    import keras

    from faceinsight.training.architectures import flip_averaged

    inputs = keras.Input((8, 8, 1))
    pooled = keras.layers.AveragePooling2D(2)(keras.layers.Rescaling(1 / 255.0)(inputs))
    flat = keras.layers.Flatten()(pooled)
    model = keras.Model(inputs, {"a": keras.layers.Dense(3)(flat), "b": keras.layers.Dense(1)(flat)})
    crops = np.random.default_rng(1).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    served = flip_averaged(model)
    names = [layer.name for layer in served.layers]
    assert names.index("with_mirror") > max(i for i, layer in enumerate(served.layers)
                                            if isinstance(layer, keras.layers.AveragePooling2D))
    got, plain, mirrored = (m.predict(c, verbose=0) for m, c in
                            ((served, crops), (model, crops), (model, crops[:, :, ::-1])))
    for key in ("a", "b"):
        np.testing.assert_allclose(got[key], (plain[key] + mirrored[key]) / 2, rtol=1e-5, atol=1e-5)
    assert not np.allclose(plain["a"], mirrored["a"], atol=1e-3)  # the flip matters


def test_emotion_training_on_framed_crops_of_faces_in_context(tiny_run: TinyRun) -> None:
    """A round with a detector's box variation and other backgrounds cuts its crops from FER2013
    faces in a mirrored border; the crops it trains on are 48 px model inputs."""
    from faceinsight.datasets import FER_CHIP_SIDE, FER_CONTEXT_PAD
    from faceinsight.training import train_emotion
    from faceinsight.training.batches import FramedBatches
    from faceinsight.training.datasets import load_fer2013

    framing = ["--box-scale", "0.1", "--box-shift", "0.05", "--box-rotate", "10", "--background", "0.5"]
    args = train_emotion.parse_args(["--data", str(tiny_run.root / "fer2013"), *framing])
    contexts = load_fer2013(args.data, "train", in_context=True)
    assert contexts["images"].shape[1:] == (FER_CHIP_SIDE + 2 * FER_CONTEXT_PAD,) * 2
    batches = train_emotion.training_batches(contexts, args)
    x, y = batches[0]
    assert isinstance(batches, FramedBatches) and x.shape[1:] == (48, 48, 1) and len(x) == len(y)
    section = continue_training(tiny_run, train_emotion, tiny_run.emotion_out / "best.keras",
                                "emotion_framed", "--data", str(tiny_run.root / "fer2013"), *framing)
    assert section["training"]["args"]["background"] == "0.5"


def fake_ferplus_and_ckplus(root: Path, astronaut: np.ndarray) -> tuple[Path, Path]:
    """A FER+ labels.csv voting every fake training face half neutral, half its own label, and
    a ckplus48-style folder of ten subjects' 48 px faces (one contempt face without emotion7)."""
    import cv2

    ferplus, ckplus = root / "ferplus", root / "ckplus48"
    ferplus.mkdir(exist_ok=True)
    columns = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear"]
    ours = ["neutral", "happy", "surprise", "sad", "angry", "disgust", "fear"]
    lines = ["path," + ",".join(columns) + ",contempt,unknown,NF"]
    for path in sorted((root / "fer2013" / "train").glob("*/*.jpg")):
        votes = [5 * (column == "neutral") + 5 * (name == path.parent.name)
                 for column, name in zip(columns, ours, strict=True)]
        lines.append(f"train/{path.parent.name}/{path.name}," + ",".join(map(str, votes)) + ",0,0,0")
    (ferplus / "labels.csv").write_text("\n".join(lines) + "\n")
    (ckplus / "images").mkdir(parents=True, exist_ok=True)
    gray = images.to_gray(astronaut)
    x, y, w, h = HaarDetector().detect(gray)[0]
    face = cv2.resize(gray[y:y + h, x:x + w], (48, 48), interpolation=cv2.INTER_AREA)
    rows = ["path,emotion7,ck_label,subject,sequence,frame"]
    for number in range(10):
        for emotion in ("happy", "surprise", ""):
            name = f"images/S{number:03d}_{emotion or 'contempt'}.png"
            (ckplus / name).write_bytes(encode(face, "PNG"))
            rows.append(f"{name},{emotion},x,S{number:03d},001,1")
    (ckplus / "labels.csv").write_text("\n".join(rows) + "\n")
    return ferplus, ckplus


def test_emotion_training_on_ferplus_votes_and_ckplus_training_subjects(tiny_run: TinyRun,
                                                                        astronaut: np.ndarray) -> None:
    """Soft targets mix each label with FER+'s votes; CK+'s training subjects join, repeated,
    through the same framed crops; val/ keeps its one-hot original labels; a round runs."""
    from faceinsight.training import train_emotion
    from faceinsight.training.ckplus import is_held_out_subject
    from faceinsight.training.datasets import load_fer2013

    ferplus, ckplus = fake_ferplus_and_ckplus(tiny_run.root, astronaut)
    extra = ["--ferplus", str(ferplus), "--soft-weight", "0.5", "--ckplus", str(ckplus),
             "--ckplus-repeat", "2", "--box-scale", "0.1", "--background", "0.5"]
    args = train_emotion.parse_args(["--data", str(tiny_run.root / "fer2013"), *extra])
    fer_train = load_fer2013(args.data, "train", in_context=True)
    val = load_fer2013(args.data, "val")
    train, val = train_emotion.with_soft_targets(fer_train, val, args)
    training_subjects = sum(not is_held_out_subject(f"S{n:03d}") for n in range(10))
    fer = len(fer_train["label"])
    assert len(train["images"]) == fer + 2 * 2 * training_subjects  # happy + surprise, x2
    happy, neutral = EMOTIONS.index("happy"), EMOTIONS.index("neutral")
    first_happy = np.flatnonzero(fer_train["label"] == happy)[0]
    assert train["target"][first_happy, happy] == pytest.approx(0.75)
    assert train["target"][first_happy, neutral] == pytest.approx(0.25)
    assert (train["target"][fer:].max(axis=1) == 1.0).all()  # CK+ faces keep one-hot labels
    np.testing.assert_array_equal(val["target"].argmax(axis=1), val["label"])
    x, y = train_emotion.training_batches(train, args)[0]
    assert x.shape[1:] == (48, 48, 1) and y.shape == (len(x), len(EMOTIONS))
    section = continue_training(tiny_run, train_emotion, tiny_run.emotion_out / "best.keras",
                                "emotion_soft", "--data", str(tiny_run.root / "fer2013"), *extra)
    assert 0 <= section["summary"]["accuracy"] <= 1


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


def test_card_says_how_a_round_framed_its_faces() -> None:
    from faceinsight.training.model_card import _augmentation_text

    framed = _augmentation_text({"detector_framing": "models", "box_scale": "0.1", "box_shift": "0.05",
                                 "box_rotate": "10", "erase": "0.5"})
    assert framed.startswith(" with each face framed as served (the served detector's box")
    assert "side +-10 %, centre +-5 %, rotation +-10°" in framed and framed.endswith("(half the crops)")
    assert _augmentation_text({"detector_framing": "None", "rotate": "0.0"}) == ""
    pasted = _augmentation_text({"paste": "0.35", "background": "0.5"})
    assert "35 % of faces pasted into a photo" in pasted and "around 32.5 % of faces" in pasted


@needs_tensorflow
def test_recover_reads_a_float_emotion_tflite_and_refuses_an_int8_one() -> None:
    """The emotion network comes back from its float16 .tflite with both views in one batch
    (the served form since 1.2.0); an int8 file holds rounded weights and is refused."""
    from faceinsight.training.architectures import emotion_model, served_form
    from faceinsight.training.convert import keras_to_tflite
    from faceinsight.training.recover import TOLERANCE, recover, tflite_layers

    served = served_form(emotion_model())
    crops = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    model, worst = recover(keras_to_tflite(served), crops)
    assert worst <= TOLERANCE
    assert [layer.name for layer in model.layers if layer.get_weights()][-1] == "emotion"
    with pytest.raises(ValueError, match="int8"):
        tflite_layers(keras_to_tflite(served, calibration=crops))


@needs_tensorflow
def test_recover_dequantises_an_int8_emotion_tflite_when_asked() -> None:
    """With ``dequantise`` the int8 weights come back as ``(q - zero point) * scale`` per output
    channel: each layer within one quantisation step of the float weights, the rebuilt network's
    outputs within the int8 tolerance of the int8 file."""
    from faceinsight.training.architectures import emotion_model, served_form
    from faceinsight.training.convert import keras_to_tflite
    from faceinsight.training.recover import INT8_TOLERANCE, recover, tflite_layers

    served = served_form(emotion_model())
    crops = np.random.default_rng(0).integers(0, 256, (16, 48, 48), dtype=np.uint8)
    int8 = keras_to_tflite(served, calibration=crops)
    floats = tflite_layers(keras_to_tflite(served))
    for (_, kernel, _), (_, rounded, _) in zip(floats, tflite_layers(int8, dequantise=True), strict=True):
        step = np.abs(kernel).reshape(len(kernel), -1).max(axis=1) / 127
        assert (np.abs(kernel - rounded).reshape(len(kernel), -1).max(axis=1) <= step * 0.51 + 1e-3).all()
    _, worst = recover(int8, crops[:4], dequantise=True)
    assert worst <= INT8_TOLERANCE
