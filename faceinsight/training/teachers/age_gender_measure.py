"""Age/gender teachers beside our model on UTKFace's validation split, and all averaged.

    python -m faceinsight.training.teachers.age_gender_measure --data DATA/utkface \\
        [--teacher build/teacher/faceres_val.npz [build/teacher/dlib_val.npz ...]] \\
        [--models models] [--out build/teacher/age_gender_measure.json]

Ours reads each validation chip's bare crop (the 128 px crop serving cuts from a whole-image
face, as ``make eval``'s bare-crop column does) through the served ``.tflite`` of ``--models``;
each teacher's readings come from the file its module writes for the split
(:mod:`faceinsight.training.teachers.faceres`, :mod:`faceinsight.training.teachers.dlib_age_gender`),
named by the file. The average is the mean of all the readers' ages and of their P(female), and
each teacher is also averaged with ours alone.
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


def compare(ours: dict, teachers: dict[str, dict], true_age: np.ndarray, is_female: np.ndarray) -> dict:
    """:func:`figures` for ours, each teacher, each teacher averaged with ours, and all averaged.

    :param teachers: each teacher's name and readings (``age``, ``female``), of the same faces.
    """
    readers = {"ours": ours, **teachers}
    readers.update({f"ours+{name}": mean_of([ours, teacher]) for name, teacher in teachers.items()})
    if len(teachers) > 1:
        readers["average"] = mean_of([ours, *teachers.values()])
    return {name: figures(values["age"], values["female"], true_age, is_female)
            for name, values in readers.items()}


def mean_of(readings: list[dict]) -> dict:
    """The readers' mean age and mean P(female) of each face."""
    return {key: np.mean([reading[key] for reading in readings], axis=0) for key in ("age", "female")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="UTKFace's flat folder")
    parser.add_argument("--teacher", type=Path, nargs="+", default=[Path("build/teacher/faceres_val.npz")],
                        help="each teacher's readings of the validation split")
    parser.add_argument("--models", type=Path, default=Path("models"), help="our models folder")
    parser.add_argument("--out", type=Path, default=Path("build/teacher/age_gender_measure.json"))
    args = parser.parse_args(argv)
    saved = [np.load(path) for path in args.teacher]
    names = saved[0]["names"]
    for path, readings in zip(args.teacher, saved, strict=True):
        if not np.array_equal(readings["names"], names):
            raise SystemExit(f"{path} reads other faces than {args.teacher[0]}")
    records = [parse_utkface_name(str(name)) for name in names]
    true_age = np.array([r.age for r in records], np.float32)
    is_female = np.array([r.gender == 1 for r in records])
    teachers = {path.stem: {"age": readings["age"], "female": readings["female"]}
                for path, readings in zip(args.teacher, saved, strict=True)}
    result = compare(our_readings(args.data, names, args.models), teachers, true_age, is_female)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
