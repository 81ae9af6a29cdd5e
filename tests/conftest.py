"""Shared fixtures: a real face (scikit-image's astronaut), encoders and the shipped models.

Everything here is made by the tests themselves, so the suite runs on a fresh clone without
the datasets in ``../shared``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from face_helpers import encode
from hypothesis import settings

from faceinsight import analyze, crops
from faceinsight.detectors import HaarDetector
from faceinsight.models import MODELS_DIR, FaceModels, assemble_model, read_manifest, reset_models

# CI (HYPOTHESIS_PROFILE=ci, set by .ci/run): fresh random cases every run, no example database
# left behind, and a failing case printed as a blob that @reproduce_failure replays locally.
settings.register_profile("ci", database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """The 512 x 512 RGB astronaut photo: one real, frontal face."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut: np.ndarray) -> bytes:
    """The astronaut photo as JPEG bytes."""
    return encode(astronaut, "JPEG", quality=92)


@pytest.fixture(scope="session")
def face_crop(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut's face, cut with the age model's margin: an image that *is* a face crop."""
    box = HaarDetector().detect(astronaut)[0]
    x, y, side = FaceModels(MODELS_DIR, detector="haar").framing.age_gender.square(box)
    left, top, whole = round(x - side / 2), round(y - side / 2), round(side)
    return np.ascontiguousarray(astronaut[max(0, top):top + whole, max(0, left):left + whole])


@pytest.fixture(scope="session")
def astronaut_crops(astronaut: np.ndarray, models: FaceModels) -> crops.FaceCrops:
    """The pipeline's two model inputs for the astronaut's face (the served detector)."""
    return analyze.find_faces(astronaut, models.detector, models.framing).crops[0]


@pytest.fixture(scope="session")
def models() -> FaceModels:
    """The shipped models, loaded once for the whole session."""
    return FaceModels(MODELS_DIR)


@pytest.fixture(scope="session")
def blazeface_weights() -> bytes:
    """The shipped BlazeFace model's bytes, verified."""
    return assemble_model(MODELS_DIR, read_manifest(MODELS_DIR)["detectors"]["blazeface"])


@pytest.fixture()
def models_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped models folder, safe to damage."""
    target = tmp_path / "models"
    shutil.copytree(MODELS_DIR, target)
    return target


@pytest.fixture()
def fresh_models() -> Iterator[None]:
    """Forget the process-wide models before and after a test that loads its own."""
    reset_models()
    yield
    reset_models()
