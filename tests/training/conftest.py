"""Fixtures of the training tests: TensorFlow (or a skip), fake datasets made from the
astronaut's face, and one tiny training run of both models that the tests share.

The tiny run trains both scripts for one epoch on a few dozen images, with the networks cut to
two narrow blocks (the shipped architectures are built in test_convert.py): what is tested is
the path from dataset folders to checkpoints, reports and served files, not the networks.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from training_fakes import TinyRun, fake_fer2013, fake_utkface

from faceinsight import images
from faceinsight.detectors import HaarDetector


@pytest.fixture(scope="session")
def tensorflow():
    """TensorFlow, or a skip saying what to install (only the tests that use Keras ask for it)."""
    return pytest.importorskip("tensorflow", reason="Keras training needs requirements-train.txt")


TINY_BLOCKS = ((1, 8), (1, 16))  # (convolutions, filters) per block: a network built in a second


@pytest.fixture(scope="session")
def tiny_run(tensorflow, tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> TinyRun:
    """Train both models for one epoch on fake datasets made from the astronaut's face."""
    from faceinsight.training import architectures, train_age_gender, train_emotion

    root = tmp_path_factory.mktemp("training")
    gray = images.to_gray(astronaut)
    x, y, w, h = HaarDetector().detect(gray)[0]
    face = astronaut[y:y + h, x:x + w]
    utk = fake_utkface(root / "utkface", face)
    fer = fake_fer2013(root / "fer2013", face, {"train": 3, "val": 2})
    reports, cache = root / "reports", root / "cache"
    # One batch an epoch (every split here is under 64 faces): Keras traces its step once.
    common = ["--epochs", "1", "--threads", "1", "--batch-size", "64", "--cache", str(cache),
              "--reports", str(reports)]
    with pytest.MonkeyPatch.context() as patch:  # later rounds start from these checkpoints
        for name in ("age_gender_model", "emotion_model"):
            patch.setattr(architectures, name, functools.partial(getattr(architectures, name), TINY_BLOCKS))
        age_gender = train_age_gender.main(["--data", str(utk), "--out", str(root / "age_gender"),
                                            "--val-fraction", "0.25", *common])
        emotion = train_emotion.main(["--data", str(fer), "--out", str(root / "emotion"), *common])
    return TinyRun(root, reports, root / "age_gender", root / "emotion", age_gender, emotion)
