"""UTKFace's faces as emotion training data without labels (``train_emotion --utkface``): read
by our models as a teacher, appended to FER2013's with the teachers' averaged readings as their
targets, and framed set by set."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from training_fakes import fake_utkface

from faceinsight import images
from faceinsight.datasets import FER_CHIP_SIDE, FER_CONTEXT_PAD, chip_box, is_validation_name
from faceinsight.detectors import HaarDetector
from faceinsight.labels import EMOTIONS
from faceinsight.models import MODELS_DIR
from faceinsight.training.datasets import load_utkface_as_emotion_faces
from faceinsight.training.teachers import ours
from faceinsight.training.train_emotion import framed_boxes, parse_args, with_utkface

HAPPY, SAD = EMOTIONS.index("happy"), EMOTIONS.index("sad")


@pytest.fixture(scope="module")
def utkface(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    x, y, w, h = HaarDetector().detect(images.to_gray(astronaut))[0]
    return fake_utkface(tmp_path_factory.mktemp("data") / "utkface", astronaut[y:y + h, x:x + w], 24)


def test_the_training_split_at_fer2013s_size_named_apart_from_fer2013(utkface: Path) -> None:
    faces = load_utkface_as_emotion_faces(utkface, in_context=True)
    names = [str(n).removeprefix("utkface/") for n in faces["names"]]
    assert all(str(n).startswith("utkface/") for n in faces["names"])
    assert names and not any(is_validation_name(n, 0.15) for n in names)
    assert len(names) < len(list(utkface.glob("*.jpg")))  # the validation split is left out
    side = FER_CHIP_SIDE + 2 * FER_CONTEXT_PAD
    assert faces["images"].shape == (len(names), side, side)
    assert load_utkface_as_emotion_faces(utkface)["images"].shape == (len(names), 48, 48)


def test_our_models_read_the_smiling_astronaut_among_utkfaces_faces_as_happy(utkface: Path,
                                                                             tmp_path: Path) -> None:
    out = tmp_path / "ours_utkface.npz"
    ours.main(["--utkface", str(utkface), "--models", str(MODELS_DIR), "--out", str(out),
               "--cache", str(tmp_path / "cache")])
    saved = np.load(out)
    assert list(saved["names"]) == list(load_utkface_as_emotion_faces(utkface)["names"])
    assert set(saved["probabilities"].argmax(axis=1)) == {HAPPY}


def teacher(path: Path, names, column: int, share: float = 1.0) -> Path:
    """A teacher file that reads each named face as ``column`` (probability ``share``), rest sad."""
    probabilities = np.zeros((len(names), len(EMOTIONS)), np.float32)
    probabilities[:, column] = share
    probabilities[:, SAD] += 1 - share
    np.savez(path, names=np.array(names), probabilities=probabilities)
    return path


def fer_like(count: int) -> dict:
    """A stand-in for FER2013's training faces (in context) with one-hot targets."""
    side = FER_CHIP_SIDE + 2 * FER_CONTEXT_PAD
    label = np.arange(count) % len(EMOTIONS)
    return {"images": np.zeros((count, side, side), np.uint8), "label": label,
            "target": np.eye(len(EMOTIONS), dtype=np.float32)[label],
            "names": np.array([f"{EMOTIONS[i]}/{n}.jpg" for n, i in enumerate(label)])}


def test_the_faces_join_with_the_teachers_averaged_readings_as_targets(utkface: Path,
                                                                       tmp_path: Path) -> None:
    names = load_utkface_as_emotion_faces(utkface)["names"]
    first = teacher(tmp_path / "a.npz", names, HAPPY)
    second = teacher(tmp_path / "b.npz", names[:-1], HAPPY, share=0.5)  # the last face unread

    def joined(count: int) -> dict:
        args = parse_args(["--data", "fer", "--utkface", str(utkface), "--utkface-teacher",
                           str(first), str(second), "--utkface-count", str(count),
                           "--cache", str(tmp_path / "cache"), "--box-scale", "0.1"])
        return with_utkface(fer_like(7), args)

    train = joined(0)  # all of them
    assert len(train["images"]) == len(train["target"]) == len(train["names"]) == 7 + len(names)
    assert train["parts"] == [(7, 1), (len(names), 1)]
    np.testing.assert_array_equal(train["names"][7:], names)
    np.testing.assert_array_equal(train["target"][:7], fer_like(7)["target"])
    utk = train["target"][7:]
    np.testing.assert_allclose(utk[:-1, HAPPY], 0.75)  # (1 + 0.5) / 2
    np.testing.assert_allclose(utk[-1, HAPPY], 1.0)  # only the teacher that read it counts
    np.testing.assert_allclose(utk.sum(axis=1), 1, atol=1e-6)
    assert set(train["label"][7:]) == {HAPPY}
    drawn = joined(5)
    assert drawn["parts"] == [(7, 1), (5, 1)] and set(drawn["names"][7:]) <= set(names)
    np.testing.assert_array_equal(joined(5)["names"], drawn["names"])  # drawn with --seed


def test_utkface_needs_a_teacher() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--data", "fer", "--utkface", "utk"])


def test_framed_boxes_frame_each_set_once_and_repeat_its_boxes(monkeypatch) -> None:
    from faceinsight.training import train_emotion

    calls = []

    def fake_served_boxes(args, faces, chip, model):  # a box per face, from its first pixel
        calls.append(len(faces))
        return np.stack([(face[0, 0], 0, 48, 48) for face in faces])

    monkeypatch.setattr(train_emotion, "served_boxes", fake_served_boxes)
    side = FER_CHIP_SIDE + 2 * FER_CONTEXT_PAD
    marks = [0, 1, 2, 3] + [10, 11] * 3 + [20]  # FER2013's 4, CK+'s 2 three times, UTKFace's 1
    train = {"images": np.stack([np.full((side, side), m, np.uint8) for m in marks]),
             "parts": [(4, 1), (2, 3), (1, 1)]}
    boxes = framed_boxes(train, argparse.Namespace(detector_framing="models"),
                         chip_box(FER_CHIP_SIDE, FER_CONTEXT_PAD))
    assert calls == [4, 2, 1]
    assert boxes[:, 0].tolist() == marks


def test_a_round_records_utkface_and_its_teachers_by_name_alone() -> None:
    from faceinsight.training.report import _sanitised

    recorded = _sanitised({"utkface": "/data/utkface", "utkface_count": "6000",
                           "utkface_teacher": "/b/teacher/ours_utkface.npz /b/faceapi_utkface.npz"})
    assert recorded == {"utkface": "utkface", "utkface_count": "6000",
                        "utkface_teacher": "ours_utkface.npz faceapi_utkface.npz"}
