"""face-api.js's expression net beside ours on the sets :mod:`faceinsight.training.emotion_eval`
scores, and the plain average of the two.

    python -m faceinsight.training.teachers.measure --fer2013 DATA/fer2013 --ferplus DATA/ferplus \\
        --ckplus DATA/ckplus48 [--models models] [--out build/teacher/measure.json]

Ours reads bare crops (the 48 px crop serving cuts from a whole-image face) throughout; face-api
reads the same bare crops, and the same faces framed as
:data:`faceinsight.training.teachers.faceapi.FRAMINGS` says (``raw``: not equalised; ``wide``: a
1.2x box), alone and averaged with ours. Time per face is face-api's, in Node on this machine's
CPU (wasm backend).
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
from faceinsight.training.teachers.faceapi import install, predict, teacher_crops


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


def framed_rows(ours, teacher: TeacherScorer, framing: str, fer2013: Path, ferplus: Path | None,
                ckplus: Path | None, cache: Path) -> dict:
    """face-api's figures on the faces framed as ``framing`` says, alone (``faceapi_<framing>``)
    and averaged with ours on the bare crops of the same faces (``average_<framing>``).

    :param ours: bare crops -> scores (N, 7).
    """
    bare, context = load_fer2013(fer2013, "val", cache), load_fer2013(fer2013, "val", cache, in_context=True)
    scores = {"faceapi": teacher(teacher_crops(context["images"], framing))}
    scores["average"] = (scores["faceapi"] + ours(bare["images"])) / 2
    sets = {"fer2013_val": (bare["label"], slice(None))}
    if ferplus:
        agreed = majority(votes_for(bare["names"], "val", read_votes(ferplus / "labels.csv")))
        sets["ferplus_val"] = (agreed[agreed >= 0], agreed >= 0)
    rows = {f"{name}_{framing}": {key: scored(true, score[kept].argmax(axis=1), f"{key}, {framing}")
                                  for key, (true, kept) in sets.items()} for name, score in scores.items()}
    if ckplus:
        faces = load_ckplus(ckplus, held_out=True)
        in_context = load_ckplus(ckplus, held_out=True, in_context=True)["images"]
        framed = teacher(teacher_crops(in_context, framing))
        for name, score in (("faceapi", framed), ("average", (framed + ours(faces["images"])) / 2)):
            rows[f"{name}_{framing}"]["ckplus_held_out"] = scored(faces["label"], score.argmax(axis=1),
                                                                  f"CK+ held-out subjects, {framing}")
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
    for framing in ("raw", "wide"):
        results.update(framed_rows(ours, teacher, framing, args.fer2013, args.ferplus, args.ckplus,
                                   args.cache))
    for name, rows in results.items():
        print(f"-- {name}\n{table(rows)}")
    results["faceapi_ms_per_face"] = round(teacher.ms_per_face(), 2)
    print(f"face-api: {results['faceapi_ms_per_face']} ms per face")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
