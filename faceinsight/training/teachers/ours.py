"""Our own served emotion models as a teacher: their averaged probabilities for FER2013's faces.

    python -m faceinsight.training.teachers.ours --data DATA/fer2013 --split train \\
        --models build/models_r9 models [--out build/teacher/ours_train.npz]
    python -m faceinsight.training.teachers.ours --utkface DATA/utkface \\
        --models build/models_r9 models --out build/teacher/ours_utkface.npz

A network trained from scratch on these soft targets (``train_emotion --teacher``) learns from
the shipped rounds' readings rather than from FER2013's noisy labels alone ("born-again"
distillation). Each face is read as serving reads a face crop
(:func:`faceinsight.crops.crops_for_whole_image`, both views, each folder's ``emotion.tflite``),
and the folders' probabilities are averaged. The ``.npz`` has the form
:mod:`faceinsight.training.teachers.faceapi` writes (``names``, ``probabilities``). With
``--utkface`` it reads UTKFace's training-split faces, which have no emotion labels
(``train_emotion --utkface``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from faceinsight.training.emotion_eval import tflite_scorer
from faceinsight.training.teachers import add_face_source_arguments, source_faces


def averaged_probabilities(models_dirs: list[Path], crops: np.ndarray) -> np.ndarray:
    """The mean of each folder's served emotion probabilities for 48 px crops.

    :param models_dirs: models folders (each with a verified ``emotion.tflite``).
    :param crops: (N, 48, 48) uint8 pipeline crops.
    :returns: (N, 7) float32 in :data:`faceinsight.labels.EMOTIONS` order.
    """
    readings = [tflite_scorer(folder)(crops) for folder in models_dirs]
    return np.mean(readings, axis=0).astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_face_source_arguments(parser)
    parser.add_argument("--models", type=Path, nargs="+", required=True, help="models folders")
    parser.add_argument("--out", type=Path, default=Path("build/teacher/ours_train.npz"))
    args = parser.parse_args(argv)
    faces = source_faces(args)
    probabilities = averaged_probabilities(args.models, faces["images"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, names=faces["names"], probabilities=probabilities)
    print(f"{len(probabilities)} faces read")
    if "label" in faces:
        agree = float((probabilities.argmax(axis=1) == faces["label"]).mean())
        print(f"the teacher agrees with the label on {agree:.4f}")


if __name__ == "__main__":
    main()
