"""The FaceRes teacher's plumbing on tiny made-up data (no npm install, no dataset folder): its
weight file read back, its input framing and readings, the saved file's resume, and how its
readings enter the age/gender targets and loss."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceinsight.labels import MAX_AGE
from faceinsight.training.teachers.faceres import (
    BGR_MEANS,
    INPUT_SIDE,
    check_sha256,
    label_split,
    read_weights,
    readings,
    teacher_input,
)
from faceinsight.training.teachers.soft_labels import teacher_age_gender


def test_float16_weights_are_read_back_in_manifest_order(tmp_path: Path) -> None:
    kernel = np.array([[1.5, -2.0], [0.25, 8.0]], np.float16)
    index = np.array([3, 7], np.int32)
    (tmp_path / "w.bin").write_bytes(kernel.tobytes() + index.tobytes())
    manifest = {"weightsManifest": [{"paths": ["w.bin"], "weights": [
        {"name": "k", "shape": [2, 2], "dtype": "float32",
         "quantization": {"dtype": "float16", "original_dtype": "float32"}},
        {"name": "i", "shape": [2], "dtype": "int32"}]}]}
    weights = read_weights(json.loads(json.dumps(manifest)), tmp_path)
    assert weights["k"].dtype == np.float32
    np.testing.assert_array_equal(weights["k"], kernel.astype(np.float32))
    np.testing.assert_array_equal(weights["i"], index)


def test_a_weight_file_other_than_the_measured_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "faceres.bin"
    path.write_bytes(b"weights")
    check_sha256(path, hashlib.sha256(b"weights").hexdigest())  # the right file passes
    with pytest.raises(ValueError, match="SHA-256"):
        check_sha256(path, "0" * 64)


def test_the_teacher_reads_a_chip_at_224_px_bgr_less_the_channel_means() -> None:
    chip = np.zeros((200, 200, 3), np.uint8)
    chip[..., 0] = 200  # red
    x = teacher_input([chip])
    assert x.shape == (1, INPUT_SIDE, INPUT_SIDE, 3)
    np.testing.assert_allclose(x[0, 100, 100], np.array([0, 0, 200], np.float32) - BGR_MEANS)


def test_readings_are_the_age_distributions_mean_and_one_less_p_male() -> None:
    age = np.zeros((2, 100), np.float32)
    age[0, 30] = 1.0
    age[1, [20, 40]] = 0.5
    read = readings({"age": age, "male": np.array([[0.9], [0.2]], np.float32)})
    np.testing.assert_allclose(read["age"], [30.0, 30.0])
    np.testing.assert_allclose(read["female"], [0.1, 0.8], atol=1e-6)


def test_a_run_saves_each_chunk_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    names = [f"{20 + i}_{i % 2}_0_2017.jpg.chip.jpg" for i in range(5)]
    for i, name in enumerate(names):
        Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(tmp_path / name)
    calls = []

    def fake_run(x: np.ndarray) -> dict:
        calls.append(len(x))
        age = np.zeros((len(x), 100), np.float32)
        age[np.arange(len(x)), np.round(x[:, 0, 0, 0] + BGR_MEANS[0]).astype(int) // 10 + 20] = 1
        return {"age": age, "male": np.full((len(x), 1), 0.25, np.float32)}

    out = tmp_path / "faceres_train.npz"
    label_split(tmp_path, names[:3], out, fake_run, chunk=2)
    assert calls == [2, 1]
    labels = label_split(tmp_path, names, out, fake_run, chunk=2)
    assert calls == [2, 1, 2]  # the first three faces are not run again
    np.testing.assert_allclose(labels["age"], [20, 21, 22, 23, 24])
    np.testing.assert_array_equal(np.load(out)["names"], names)


def teacher_file(tmp_path: Path) -> Path:
    path = tmp_path / "faceres_train.npz"
    distribution = np.zeros((2, 100), np.float32)
    distribution[0, 40] = 1.0  # a.jpg: the teacher says 40
    distribution[1, 99] = 1.0
    np.savez(path, names=np.array(["a.jpg", "b.jpg"]), age=np.array([40.0, 99.0]),
             age_distribution=distribution, female=np.array([0.9, 0.2], np.float32))
    return path


def test_saved_readings_line_up_with_the_training_faces(tmp_path: Path) -> None:
    teacher = teacher_age_gender(teacher_file(tmp_path), ["b.jpg", "new.jpg", "a.jpg"])
    assert teacher["age_distribution"].shape == (3, MAX_AGE + 1)  # 0..99 padded to 0..MAX_AGE
    assert teacher["age_distribution"][0].argmax() == 99 and teacher["age_distribution"][2].argmax() == 40
    assert not teacher["age_distribution"][1].any()
    np.testing.assert_array_equal(teacher["taught"], [True, False, True])
    np.testing.assert_allclose(teacher["female"], [0.2, 0.0, 0.9])


def test_taught_targets_mix_the_teacher_in_and_leave_an_unread_face_its_label(tmp_path: Path) -> None:
    from faceinsight.training.losses import taught_targets

    teacher = teacher_age_gender(teacher_file(tmp_path), ["a.jpg", "new.jpg"])
    targets = taught_targets(np.array([30, 50]), np.array([0.0, 1.0]), teacher, weight=0.25)
    assert targets["age"].shape == (2, MAX_AGE + 2)
    np.testing.assert_allclose(targets["age"][:, 0], [30, 50])  # the true age comes first
    assert targets["age"][0, 1 + 40] == pytest.approx(0.25)  # the teacher's share at its age
    assert not targets["age"][1, 1:].any()  # no teacher: the loss keeps its Gaussian alone
    np.testing.assert_allclose(targets["gender"][:, 0], [0.75 * 0 + 0.25 * 0.9, 1.0])


def numpy_loss(target: np.ndarray, predicted: np.ndarray, aim: float) -> float:
    expected = float((predicted * np.arange(MAX_AGE + 1)).sum())
    return float(-(target * np.log(np.clip(predicted, 1e-7, 1))).sum() + 0.05 * abs(expected - aim))


def test_the_age_loss_scores_a_taught_target_against_the_mixture(tensorflow, tmp_path: Path) -> None:
    """Cross-entropy to ``(1 - w) x`` the Gaussian ``+ w x`` the teacher, the L1 term aiming at
    that mixture's mean; an untaught row in the same batch scores as a plain target does."""
    from faceinsight.training.losses import ExpectedAgeMAE, age_distribution_loss, age_targets, taught_targets

    teacher = teacher_age_gender(teacher_file(tmp_path), ["a.jpg", "new.jpg"])
    ages = np.array([30.0, 50.0], np.float32)
    taught = taught_targets(ages, np.zeros(2, np.float32), teacher, weight=0.25)["age"]
    predicted = np.random.default_rng(0).dirichlet(np.ones(MAX_AGE + 1), 2).astype(np.float32)
    gaussian = np.asarray(age_targets(ages))
    mixed = 0.75 * gaussian[0] + 0.25 * teacher["age_distribution"][0]
    expected = [numpy_loss(mixed, predicted[0], 0.75 * 30 + 0.25 * 40),
                numpy_loss(gaussian[1], predicted[1], 50.0)]
    np.testing.assert_allclose(np.asarray(age_distribution_loss(taught, predicted)), expected, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(age_distribution_loss(ages, predicted))[1], expected[1], rtol=1e-4)
    metric = ExpectedAgeMAE()
    metric.update_state(taught, predicted)  # the metric reads the true age, never the teacher's
    mean = predicted @ np.arange(MAX_AGE + 1)
    assert float(metric.result()) == pytest.approx(float(np.abs(mean - ages).mean()), rel=1e-4)


def test_gender_accuracy_reads_a_soft_target_as_its_class(tensorflow) -> None:
    from faceinsight.training.losses import gender_accuracy

    metric = gender_accuracy()
    metric.update_state(np.array([[0.73], [0.27], [1.0], [0.0]], np.float32),
                        np.array([[0.8], [0.1], [0.4], [0.6]], np.float32))
    assert float(metric.result()) == pytest.approx(0.5)  # two right, two wrong
    assert metric.name == "binary_accuracy"


def test_a_gender_label_is_disputed_only_where_every_teacher_is_sure_of_the_other_sex(
        tmp_path: Path) -> None:
    from faceinsight.training.teachers.soft_labels import disputed_gender

    faceres = teacher_file(tmp_path)  # P(female): a.jpg 0.9, b.jpg 0.2
    dlib = tmp_path / "dlib_train.npz"
    np.savez(dlib, names=np.array(["a.jpg", "b.jpg", "c.jpg"]), age=np.zeros(3),
             age_distribution=np.zeros((3, 100), np.float32),
             female=np.array([0.95, 0.05, 0.99], np.float32))
    names, female = ["a.jpg", "b.jpg", "c.jpg"], np.array([0, 1, 0])  # a, c labelled male, b female
    # a: both sure she is female; b: FaceRes only 0.8 sure of male; c: FaceRes never read it
    np.testing.assert_array_equal(disputed_gender([faceres, dlib], names, female, 0.9), [True, False, False])
    np.testing.assert_array_equal(disputed_gender([faceres, dlib], names, female, 0.8), [True, True, False])
    np.testing.assert_array_equal(disputed_gender([faceres, dlib], names, 1 - female, 0.5), [False] * 3)


def test_correcting_disputed_labels_without_a_teacher_is_refused(capsys) -> None:
    from faceinsight.training.train_age_gender import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--data", "utkface", "--correct-disputed", "0.9"])
    assert "needs --teacher" in capsys.readouterr().err
    taught = parse_args(["--data", "utkface", "--correct-disputed", "0.9", "--teacher", "t.npz"])
    assert taught.correct_disputed == 0.9
