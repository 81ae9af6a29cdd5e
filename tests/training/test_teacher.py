"""The teachers' plumbing on tiny made-up data (no Node, no dataset folder): face-api's class
order, the saved file's resume, how a teacher's probabilities enter the training targets, and
our own shipped models read as a teacher."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from training_fakes import fake_fer2013

from faceinsight import images
from faceinsight.detectors import HaarDetector
from faceinsight.labels import EMOTIONS
from faceinsight.models import MODELS_DIR
from faceinsight.training.teachers import ours
from faceinsight.training.teachers.faceapi import FACEAPI_TO_EMOTION, label_split, teacher_crops, to_our_order
from faceinsight.training.teachers.soft_labels import teacher_probabilities

NAMES = np.array(["angry/a.jpg", "happy/b.jpg", "sad/c.jpg"])


def test_face_api_columns_land_on_our_class_names() -> None:
    faceapi_names = list(FACEAPI_TO_EMOTION)  # the net's output order
    for column, name in enumerate(faceapi_names):
        row = np.zeros((1, len(EMOTIONS)), np.float32)
        row[0, column] = 1
        assert EMOTIONS[int(to_our_order(row).argmax())] == FACEAPI_TO_EMOTION[name]


def test_a_run_saves_each_chunk_and_resumes_where_it_stopped(tmp_path: Path) -> None:
    faces = np.arange(5 * 4, dtype=np.uint8).reshape(5, 2, 2)
    names = np.array([f"happy/{i}.jpg" for i in range(5)])
    calls = []

    def fake_run(chunk: np.ndarray, modules: Path) -> np.ndarray:
        calls.append(len(chunk))
        return np.tile(chunk[:, 0, 0, None].astype(np.float32), (1, len(EMOTIONS)))

    out = tmp_path / "train.npz"
    label_split(faces[:3], names[:3], out, tmp_path, chunk=2, run=fake_run)
    assert calls == [2, 1]
    probabilities = label_split(faces, names, out, tmp_path, chunk=2, run=fake_run)
    assert calls == [2, 1, 2]  # the first three faces are not run again
    np.testing.assert_array_equal(probabilities[:, 0], faces[:, 0, 0])
    np.testing.assert_array_equal(np.load(out)["names"], names)


def test_raw_crops_are_the_face_and_wide_ones_a_box_1_2_times_it() -> None:
    in_context = np.zeros((1, 80, 80), np.uint8)
    in_context[0, 11:69, 11:69] = 200  # the 58 px square a 1.2x box of the 48 px chip covers
    wide = teacher_crops(in_context, "wide")
    assert wide.shape == (1, 48, 48)
    assert len(np.unique(wide)) == 1  # nothing of the border outside the wider box
    in_context[0, 16:64, 16:64] = np.arange(48 * 48).reshape(48, 48) % 199  # the face itself
    np.testing.assert_array_equal(teacher_crops(in_context, "raw")[0], in_context[0, 16:64, 16:64])


def teacher_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.npz"
    probabilities = np.zeros((2, len(EMOTIONS)), np.float32)
    probabilities[0, EMOTIONS.index("sad")] = 1.0  # a.jpg: the teacher says sad
    probabilities[1, EMOTIONS.index("happy")] = 0.6
    probabilities[1, EMOTIONS.index("surprise")] = 0.4
    np.savez(path, names=np.array(["happy/b.jpg", "angry/a.jpg"]), probabilities=probabilities[::-1])
    return path


def test_teacher_probabilities_follow_the_names_and_are_zero_for_an_unnamed_face(tmp_path: Path) -> None:
    taught = teacher_probabilities(teacher_file(tmp_path), NAMES)
    assert taught[0, EMOTIONS.index("sad")] == 1.0
    assert taught[1, EMOTIONS.index("surprise")] == pytest.approx(0.4)
    np.testing.assert_array_equal(taught[2], 0)


def test_training_targets_mix_in_the_teachers_probabilities(tmp_path: Path) -> None:
    from faceinsight.training import train_emotion

    labels = np.array([EMOTIONS.index(n.split("/")[0]) for n in NAMES], np.int32)
    train = {"names": NAMES, "label": labels, "images": np.zeros((3, 48, 48), np.uint8)}
    args = train_emotion.parse_args(["--data", str(tmp_path), "--teacher", str(teacher_file(tmp_path)),
                                     "--teacher-weight", "0.25"])
    assert train_emotion.soft_training(args)
    train, val = train_emotion.with_soft_targets(train, dict(train), args)
    target, val_target = train["target"], val["target"]
    one_hot = np.eye(len(EMOTIONS), dtype=np.float32)
    np.testing.assert_allclose(target[0], 0.75 * one_hot[EMOTIONS.index("angry")]
                               + 0.25 * one_hot[EMOTIONS.index("sad")])
    np.testing.assert_allclose(target[1], 0.9 * one_hot[EMOTIONS.index("happy")]
                               + 0.1 * one_hot[EMOTIONS.index("surprise")], rtol=1e-6)
    np.testing.assert_array_equal(target[2], one_hot[labels[2]])  # no teacher row: label kept
    np.testing.assert_array_equal(val_target, one_hot[labels])  # val/ keeps its labels


def test_with_ferplus_the_teacher_mixes_into_the_vote_targets(tmp_path: Path) -> None:
    from faceinsight.training import train_emotion

    (tmp_path / "labels.csv").write_text(
        "path,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"
        "train/angry/a.jpg,5,0,0,0,5,0,0,0,0,0\n")
    labels = np.array([EMOTIONS.index(n.split("/")[0]) for n in NAMES], np.int32)
    train = {"names": NAMES, "label": labels}
    args = argparse.Namespace(ferplus=tmp_path, soft_weight=0.5, teacher=teacher_file(tmp_path),
                              teacher_weight=0.5, ckplus=None, utkface=None)
    target = train_emotion.with_soft_targets(train, dict(train), args)[0]["target"]
    angry, neutral, sad = (EMOTIONS.index(n) for n in ("angry", "neutral", "sad"))
    # FER+ first: 0.75 angry + 0.25 neutral; then half of it replaced by the teacher's sad.
    assert target[0, angry] == pytest.approx(0.375)
    assert target[0, neutral] == pytest.approx(0.125)
    assert target[0, sad] == pytest.approx(0.5)


def test_our_models_as_a_teacher_average_the_folders_and_read_the_smiling_astronaut_as_happy(
        tmp_path: Path, astronaut: np.ndarray) -> None:
    x, y, w, h = HaarDetector().detect(images.to_gray(astronaut))[0]
    data = fake_fer2013(tmp_path / "fer2013", astronaut[y:y + h, x:x + w], {"train": 1})
    out = tmp_path / "ours.npz"
    ours.main(["--data", str(data), "--models", str(MODELS_DIR), str(MODELS_DIR),
               "--cache", str(tmp_path / "cache"), "--out", str(out)])
    saved = np.load(out)
    assert sorted(saved["names"]) == sorted(f"{e}/train_0.jpg" for e in EMOTIONS)
    probabilities = saved["probabilities"]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-3)
    faces = np.stack([np.full((48, 48), 128, np.uint8), np.eye(48, dtype=np.uint8) * 255])
    once = ours.averaged_probabilities([MODELS_DIR], faces)
    np.testing.assert_allclose(ours.averaged_probabilities([MODELS_DIR, MODELS_DIR], faces), once, atol=1e-6)
    assert {EMOTIONS[i] for i in probabilities.argmax(axis=1)} == {"happy"}
