"""face-api.js's expression net beside ours on the sets :mod:`faceinsight.training.emotion_eval`
scores, and the plain average of the two.

    python -m faceinsight.training.teachers.measure --fer2013 DATA/fer2013 --ferplus DATA/ferplus \\
        --ckplus DATA/ckplus48 [--models models] [--out build/teacher/measure.json]

Every row is on bare crops (the 48 px crop serving cuts from a whole-image face); face-api also
gets a 1.2x wider box (``wide``) on FER2013 ``val/`` and CK+, cut from the face in its mirrored
border. Time per face is face-api's, in Node on this machine's CPU (wasm backend).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from faceinsight.training.ckplus import load_ckplus
from faceinsight.training.datasets import load_fer2013
from faceinsight.training.emotion_eval import evaluate, scored, table, tflite_scorer
from faceinsight.training.ferplus import majority, read_votes, votes_for
from faceinsight.training.teachers.faceapi import install, predict, wide_crops


class TeacherScorer:
    """face-api's scores of a set of crops, each set run once (the average reuses them), and
    the seconds spent per face."""

    def __init__(self, modules: Path):
        self.modules, self.seen, self.seconds, self.faces = modules, {}, 0.0, 0

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        key = hashlib.sha256(np.ascontiguousarray(faces).tobytes()).hexdigest()
        if key not in self.seen:
            started = time.perf_counter()
            self.seen[key] = predict(faces, self.modules)
            self.seconds += time.perf_counter() - started
            self.faces += len(faces)
        return self.seen[key]

    def ms_per_face(self) -> float:
        """Wall time per face of every run so far, Node's start and the file hand-over included."""
        return 1000 * self.seconds / max(self.faces, 1)


def wide_rows(teacher: TeacherScorer, fer2013: Path, ferplus: Path | None, ckplus: Path | None,
              cache: Path) -> dict:
    """face-api's figures on 1.2x wider crops of the same faces."""
    val = load_fer2013(fer2013, "val", cache, in_context=True)
    predicted = teacher(wide_crops(val["images"])).argmax(axis=1)
    rows = {"fer2013_val": scored(val["label"], predicted, "FER2013 val/, 1.2x box")}
    if ferplus:
        agreed = majority(votes_for(val["names"], "val", read_votes(ferplus / "labels.csv")))
        kept = agreed >= 0
        rows["ferplus_val"] = scored(agreed[kept], predicted[kept], "FER+ majority, 1.2x box")
    if ckplus:
        faces = load_ckplus(ckplus, held_out=True, in_context=True)
        rows["ckplus_held_out"] = scored(faces["label"], teacher(wide_crops(faces["images"])).argmax(axis=1),
                                         "CK+ held-out subjects, 1.2x box")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models"), help="served models folder")
    parser.add_argument("--fer2013", type=Path, required=True)
    parser.add_argument("--ferplus", type=Path, default=None)
    parser.add_argument("--ckplus", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=Path(".cache"), help="decoded-array cache")
    parser.add_argument("--out", type=Path, default=Path("build/teacher/measure.json"))
    args = parser.parse_args(argv)
    ours, teacher = tflite_scorer(args.models), TeacherScorer(install())
    scorers = {"ours": ours, "faceapi": teacher,
               "average": lambda faces: (ours(faces) + teacher(faces)) / 2}
    results = {name: evaluate(score, args.fer2013, args.ferplus, args.ckplus, args.cache)
               for name, score in scorers.items()}
    results["faceapi_wide"] = wide_rows(teacher, args.fer2013, args.ferplus, args.ckplus, args.cache)
    results["faceapi_ms_per_face"] = round(teacher.ms_per_face(), 2)
    for name in scorers:
        print(f"-- {name}\n{table(results[name])}")
    print(f"-- faceapi_wide\n{table(results['faceapi_wide'])}\nface-api: "
          f"{results['faceapi_ms_per_face']} ms per face")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
