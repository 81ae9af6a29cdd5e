"""face-api.js's FaceExpressionNet as a teacher: its seven probabilities for FER2013's faces.

    python -m faceinsight.training.teachers.faceapi --data DATA/fer2013 --split train \\
        [--framing raw|bare|wide] [--out build/teacher/train.npz]
    python -m faceinsight.training.teachers.faceapi --utkface DATA/utkface \\
        --out build/teacher/faceapi_utkface.npz   # UTKFace's faces, which have no emotion labels

The net runs in Node on the CPU (``faceapi_expressions.mjs``, tfjs wasm backend) from the
pinned npm install of this folder's ``package.json``/``package-lock.json``, made once into the
ignored ``.cache/npm-teacher/`` (``npm ci``; nothing is fetched after that). Faces are framed
by :data:`FRAMINGS`: ``raw`` (the default; the 48 px face as the dataset holds it), ``bare``
(the pipeline's histogram-equalised crop) or ``wide`` (a 1.2x box). The ``.npz`` (``names``,
``probabilities`` in :data:`EMOTIONS` order) is saved every chunk, and a rerun resumes from it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from faceinsight import crops
from faceinsight.datasets import FER_CHIP_SIDE, FER_CONTEXT_PAD
from faceinsight.labels import EMOTIONS
from faceinsight.training.teachers import add_face_source_arguments, source_faces

HERE = Path(__file__).resolve().parent
INSTALL = Path(".cache/npm-teacher")
# FaceExpressions.ts's FACE_EXPRESSION_LABELS, the order of the net's outputs -> our names.
FACEAPI_TO_EMOTION = {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry",
                      "fearful": "fear", "disgusted": "disgust", "surprised": "surprise"}
FACEAPI_ORDER = [list(FACEAPI_TO_EMOTION).index(next(k for k, v in FACEAPI_TO_EMOTION.items()
                                                     if v == name)) for name in EMOTIONS]
WIDE_SCALE = 1.2
CHUNK = 1024


def install(folder: Path = INSTALL) -> Path:
    """The pinned packages' ``node_modules`` folder, installed with ``npm ci`` if absent.

    :param folder: where to install (ignored by git).
    """
    modules = folder / "node_modules"
    if not (modules / "@vladmandic" / "face-api").exists():
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, folder / name)
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                       cwd=folder, check=True)
    return modules


def to_our_order(probabilities: np.ndarray) -> np.ndarray:
    """(N, 7) face-api outputs -> (N, 7) in :data:`EMOTIONS` order."""
    return probabilities[:, FACEAPI_ORDER]


def predict(faces: np.ndarray, modules: Path) -> np.ndarray:
    """FaceExpressionNet's probabilities for square grey crops.

    :param faces: (N, S, S) uint8.
    :param modules: the install's ``node_modules`` (:func:`install`).
    :returns: (N, 7) float32 in :data:`EMOTIONS` order.
    """
    faces = np.ascontiguousarray(faces, np.uint8)
    with tempfile.TemporaryDirectory() as work:
        crops_file, out_file = Path(work) / "crops.u8", Path(work) / "out.f32"
        faces.tofile(crops_file)
        subprocess.run(["node", str(HERE / "faceapi_expressions.mjs"), str(modules), str(crops_file),
                        str(len(faces)), str(faces.shape[1]), str(out_file)], check=True)
        return to_our_order(np.fromfile(out_file, np.float32).reshape(len(faces), len(EMOTIONS)))


FRAMINGS = {"raw": "the 48 px face as the dataset holds it (not equalised)",
            "bare": "the 48 px crop serving cuts from a whole-image face (histogram-equalised)",
            "wide": "a 1.2x wider box about the face's centre, equalised as serving does"}


def teacher_crops(in_context: np.ndarray, framing: str, scale: float = WIDE_SCALE) -> np.ndarray:
    """The faces as the teacher reads them (:data:`FRAMINGS`: ``raw`` or ``wide``), cut from each
    face in its mirrored border (``chip_box(FER_CHIP_SIDE, FER_CONTEXT_PAD)``).

    :param in_context: (N, 80, 80) uint8 from ``load_fer2013(..., in_context=True)`` or
        ``load_ckplus(..., in_context=True)``.
    :param scale: the ``wide`` box's side over the face's.
    :returns: (N, 48, 48) uint8.
    """
    if framing == "raw":
        end = FER_CONTEXT_PAD + FER_CHIP_SIDE
        return np.ascontiguousarray(in_context[:, FER_CONTEXT_PAD:end, FER_CONTEXT_PAD:end])
    side = round(FER_CHIP_SIDE * scale)
    start = FER_CONTEXT_PAD + (FER_CHIP_SIDE - side) // 2
    return np.stack([crops.prepare_crop(face[start:start + side, start:start + side], FER_CHIP_SIDE)
                     for face in in_context])


def resumed(out: Path, names: np.ndarray) -> np.ndarray:
    """The probabilities already saved in ``out`` for a prefix of ``names`` ((0, 7) if none)."""
    if out.exists():
        saved = np.load(out)
        done = len(saved["names"])
        if done <= len(names) and np.array_equal(saved["names"], names[:done]):
            return saved["probabilities"]
    return np.zeros((0, len(EMOTIONS)), np.float32)


def label_split(faces: np.ndarray, names: np.ndarray, out: Path, modules: Path,
                chunk: int = CHUNK, run=predict) -> np.ndarray:
    """The teacher's probabilities for every face, saved to ``out`` after each chunk.

    :param faces: (N, S, S) uint8 crops; ``names``: (N,) their file names.
    :param run: crops, modules -> (n, 7) (:func:`predict`; replaced in tests).
    :returns: (N, 7) float32 in :data:`EMOTIONS` order.
    """
    probabilities = resumed(out, names)
    out.parent.mkdir(parents=True, exist_ok=True)
    for start in range(len(probabilities), len(faces), chunk):
        probabilities = np.concatenate([probabilities, run(faces[start:start + chunk], modules)])
        partial = out.with_suffix(".partial.npz")
        np.savez(partial, names=names[:len(probabilities)], probabilities=probabilities)
        partial.replace(out)
        print(f"{len(probabilities)}/{len(faces)} faces", flush=True)
    return probabilities


def teacher_faces(args: argparse.Namespace) -> dict:
    """The faces the arguments name (:func:`source_faces`) as the teacher reads them
    (:data:`FRAMINGS`), with their names."""
    faces = source_faces(args, in_context=args.framing != "bare")
    if args.framing != "bare":
        faces = dict(faces, images=teacher_crops(faces["images"], args.framing))
    return faces


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_face_source_arguments(parser)
    parser.add_argument("--framing", default="raw", choices=tuple(FRAMINGS))
    parser.add_argument("--out", type=Path, default=None, help="default build/teacher/<split>.npz")
    args = parser.parse_args(argv)
    split = "utkface" if args.utkface else args.split
    out = args.out or Path("build/teacher") / (f"{split}.npz" if args.framing == "raw"
                                               else f"{split}-{args.framing}.npz")
    modules = install()
    faces = teacher_faces(args)
    started = time.time()
    label_split(faces["images"], faces["names"], out, modules)
    print(f"saved {out} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
