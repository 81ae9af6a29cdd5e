"""FaceRes beside our age/gender model on UTKFace's validation split, and the two averaged.

    python -m faceinsight.training.teachers.faceres_measure --data DATA/utkface \\
        [--teacher build/teacher/faceres_val.npz] [--models models] \\
        [--out build/teacher/faceres_measure.json]

Ours reads each validation chip's bare crop (the 128 px crop serving cuts from a whole-image
face, as ``make eval``'s bare-crop column does) through the served ``.tflite`` of ``--models``;
FaceRes's readings come from the file :mod:`faceinsight.training.teachers.faceres` writes for
the split. The average is the mean of the two ages and of the two P(female).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from faceinsight import crops, images
from faceinsight.datasets import parse_utkface_name


def our_readings(data: Path, names, models_dir: Path) -> dict[str, np.ndarray]:
    """Our model's age and P(female) on each named chip's bare crop.

    :param data: UTKFace's folder; ``names``: its file names.
    :param models_dir: a models folder (the shipped ``models/`` or a candidate's).
    """
    from faceinsight.models import FaceModels

    models = FaceModels(models_dir)
    ages, female = [], []
    for name in names:
        face = crops.crops_for_whole_image(images.to_gray(images.load_image(data / str(name))))
        answer = models.predict_age_gender(face.age_gender)
        ages.append(answer.age)
        female.append(answer.female_probability)
    return {"age": np.array(ages, np.float32), "female": np.array(female, np.float32)}


def figures(age: np.ndarray, female: np.ndarray, true_age: np.ndarray, is_female: np.ndarray) -> dict:
    """Age MAE, gender accuracy (P(female) >= 0.5 says female, as served), women read as women
    and men as men.

    :param age: (N,) ages read; ``female``: (N,) P(female); ``true_age``, ``is_female``: labels.
    """
    said_female = female >= 0.5
    return {"age_mae": round(float(np.abs(age - true_age).mean()), 3),
            "gender_accuracy": round(float((said_female == is_female).mean()), 4),
            "women_as_women": round(float(said_female[is_female].mean()), 4),
            "men_as_men": round(float((~said_female[~is_female]).mean()), 4),
            "faces": int(len(age))}


def compare(ours: dict, teacher: dict, true_age: np.ndarray, is_female: np.ndarray) -> dict:
    """:func:`figures` for ours, the teacher and their plain average."""
    average = {key: (ours[key] + teacher[key]) / 2 for key in ("age", "female")}
    return {reader: figures(values["age"], values["female"], true_age, is_female)
            for reader, values in (("ours", ours), ("faceres", teacher), ("average", average))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="UTKFace's flat folder")
    parser.add_argument("--teacher", type=Path, default=Path("build/teacher/faceres_val.npz"))
    parser.add_argument("--models", type=Path, default=Path("models"), help="our models folder")
    parser.add_argument("--out", type=Path, default=Path("build/teacher/faceres_measure.json"))
    args = parser.parse_args(argv)
    saved = np.load(args.teacher)
    names = saved["names"]
    records = [parse_utkface_name(str(name)) for name in names]
    true_age = np.array([r.age for r in records], np.float32)
    is_female = np.array([r.gender == 1 for r in records])
    result = compare(our_readings(args.data, names, args.models),
                     {"age": saved["age"], "female": saved["female"]}, true_age, is_female)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
