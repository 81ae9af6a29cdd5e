"""Train the emotion model on FER2013: data, model, fit, evaluate.

    python -m faceinsight.training.train_emotion --data PATH/TO/fer2013 --out build/emotion

FER2013's ``train/`` trains; its ``val/`` (PublicTest) picks the best epoch and is reported.
With ``--box-scale``/``--box-shift``/``--box-rotate``/``--background`` the training crops are
cut from each face in a mirrored border through the serving crop function, the box varied as a
detector varies it (as the age/gender model trains); ``--detector-framing models`` first frames
each face as serving does (the served detector's box and the emotion geometry of that folder's
manifest). Without them, the 48 px crops are shifted.

``--ferplus`` trains on soft targets: each file's original label mixed with FER+'s ten
annotators' votes (``--soft-weight``, :mod:`faceinsight.training.ferplus`); ``--ckplus`` adds
the CK+ faces of the training subjects (:mod:`faceinsight.training.ckplus`), repeated
``--ckplus-repeat`` times, through the same framing and augmentation. ``--teacher`` mixes a
teacher's saved probabilities for the training faces into the targets (``--teacher-weight``,
after FER+'s votes; :mod:`faceinsight.training.teachers`). ``--utkface`` adds UTKFace's
training-split faces, which have no emotion labels: their targets are the teachers' readings
(``--utkface-teacher``, averaged), ``--utkface-count`` of them drawn once. ``val/`` is scored
against its original labels either way.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from faceinsight.datasets import FER_CHIP_SIDE, FER_CONTEXT_PAD, chip_box
from faceinsight.labels import EMOTIONS
from faceinsight.training.arguments import (
    add_framing_arguments,
    add_training_arguments,
    augmentation_options,
    framed,
)
from faceinsight.training.augment import BoxJitter
from faceinsight.training.ckplus import load_ckplus
from faceinsight.training.datasets import load_fer2013, load_utkface_as_emotion_faces
from faceinsight.training.ferplus import mixed_targets, read_votes, soft_targets, votes_for
from faceinsight.training.fit import compile_and_fit, limit_threads, new_model, seed_everything
from faceinsight.training.framing import served_boxes
from faceinsight.training.report import report_emotion
from faceinsight.training.teachers.soft_labels import teacher_probabilities


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="FER2013 folder with train/ and val/")
    add_training_arguments(parser, out="build/emotion", epochs=14)
    parser.add_argument("--limit-per-class", type=int, default=None, help="smoke runs only")
    add_framing_arguments(parser, box_scale=0.0, box_shift=0.0, box_rotate=0.0)
    parser.add_argument("--ferplus", type=Path, default=None,
                        help="FER+ folder (labels.csv): train on soft targets from its votes")
    parser.add_argument("--soft-weight", type=float, default=0.5,
                        help="the votes' share of each target with --ferplus (0..1)")
    parser.add_argument("--ckplus", type=Path, default=None,
                        help="ckplus48 folder: add the CK+ faces of the training subjects")
    parser.add_argument("--ckplus-repeat", type=int, default=3,
                        help="times each CK+ training face appears per epoch")
    parser.add_argument("--teacher", type=Path, default=None,
                        help="a teacher's probabilities for train/ (build/teacher/train.npz)")
    parser.add_argument("--teacher-weight", type=float, default=0.3,
                        help="the teacher's share of each target with --teacher (0..1)")
    parser.add_argument("--utkface", type=Path, default=None,
                        help="UTKFace folder: add its training-split faces, taught by --utkface-teacher")
    parser.add_argument("--utkface-teacher", type=Path, nargs="+", default=[],
                        help="teachers' probabilities for those faces (teachers.ours, teachers.faceapi "
                             "--utkface), averaged")
    parser.add_argument("--utkface-count", type=int, default=0,
                        help="how many of UTKFace's faces join, drawn once with --seed (0: all)")
    args = parser.parse_args(argv)
    if args.utkface and not args.utkface_teacher:
        parser.error("--utkface needs --utkface-teacher: UTKFace's faces have no emotion labels")
    return args


def soft_training(args: argparse.Namespace) -> bool:
    """Whether targets are distributions (FER+ votes, a teacher or added data) rather than class
    indices."""
    return bool(args.ferplus or args.ckplus or args.teacher or args.utkface)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    limit_threads(args.threads)
    seed_everything(args.seed)
    # These import Keras, which starts TensorFlow: only after --threads is applied.
    from faceinsight.training.architectures import emotion_model
    from faceinsight.training.batches import AugmentedBatches

    started = time.time()
    print("loading FER2013 through the face pipeline...", flush=True)
    train = load_fer2013(args.data, "train", args.cache, limit_per_class=args.limit_per_class,
                         in_context=framed(args))
    val = load_fer2013(args.data, "val", args.cache, limit_per_class=args.limit_per_class)
    print(f"train {len(train['label'])} crops, val {len(val['label'])} crops", flush=True)

    if soft_training(args):
        train, val = with_soft_targets(train, val, args)
    train_batches = training_batches(train, args)
    val_batches = AugmentedBatches(val["images"], val["target"] if soft_training(args) else val["label"],
                                   256, args.seed, 0, augment=False)
    model = new_model(emotion_model, args)
    compile_and_fit(model, train_batches, val_batches, args, "val_accuracy", "max",
                    started, **loss_and_metrics(args))
    return report_emotion(args.out, val, args.reports)


def loss_and_metrics(args: argparse.Namespace) -> dict:
    """Cross-entropy on class indices, or on target distributions (soft targets); accuracy
    either way is the argmax against the target's argmax (``val/``: its original label)."""
    if not soft_training(args):
        return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
    import keras

    return {"loss": "categorical_crossentropy",
            "metrics": [keras.metrics.CategoricalAccuracy(name="accuracy")]}


def with_soft_targets(train: dict, val: dict, args: argparse.Namespace) -> tuple[dict, dict]:
    """``target`` distributions for both splits: training's from FER+ votes (with ``--ferplus``)
    then a teacher's (with ``--teacher``), and CK+'s training subjects added (with ``--ckplus``);
    ``val/``'s one-hot original labels."""
    one_hot = np.eye(len(EMOTIONS), dtype=np.float32)
    train = dict(train, target=one_hot[train["label"]])
    if args.ferplus:
        votes = read_votes(args.ferplus / "labels.csv")
        train_votes = votes_for(train["names"], "train", votes)
        print(f"FER+ votes for {int((train_votes.sum(axis=1) > 0).sum())} of {len(train_votes)} "
              f"training faces; soft weight {args.soft_weight}", flush=True)
        train["target"] = soft_targets(train["label"], train_votes, args.soft_weight)
    if args.teacher:
        taught = teacher_probabilities(args.teacher, train["names"])
        print(f"teacher {args.teacher.name} for {int((taught.sum(axis=1) > 0).sum())} of "
              f"{len(taught)} training faces; teacher weight {args.teacher_weight}", flush=True)
        train["target"] = mixed_targets(train["target"], taught, args.teacher_weight)
    if args.ckplus:
        train = with_ckplus(train, args)
    if args.utkface:
        train = with_utkface(train, args)
    return train, dict(val, target=one_hot[val["label"]])


def with_ckplus(train: dict, args: argparse.Namespace) -> dict:
    """``train`` with CK+'s training-subject faces appended ``--ckplus-repeat`` times, framed as
    FER2013's are (faces in context when training cuts framed crops)."""
    faces = load_ckplus(args.ckplus, held_out=False, in_context=framed(args))
    repeat = max(1, args.ckplus_repeat)
    print(f"CK+: {len(faces['label'])} training-subject faces, x{repeat}", flush=True)
    target = np.eye(len(EMOTIONS), dtype=np.float32)[faces["label"]]
    return appended(train, {**faces, "target": target}, repeat)


def with_utkface(train: dict, args: argparse.Namespace) -> dict:
    """``train`` with UTKFace's training-split faces appended (``--utkface-count`` of them, drawn
    with ``--seed``), framed as FER2013's are, their targets the teachers' averaged readings
    and their labels those readings' most likely class."""
    faces = load_utkface_as_emotion_faces(args.utkface, args.cache, in_context=framed(args))
    taught = np.mean([teacher_probabilities(path, faces["names"]) for path in args.utkface_teacher],
                     axis=0)
    keep = np.flatnonzero(taught.sum(axis=1) > 0)  # a face no teacher read has no target
    if args.utkface_count and args.utkface_count < len(keep):
        keep = np.sort(np.random.default_rng(args.seed).choice(keep, args.utkface_count, replace=False))
    print(f"UTKFace: {len(keep)} faces taught by {len(args.utkface_teacher)} teacher(s)", flush=True)
    target = (taught[keep] / taught[keep].sum(axis=1, keepdims=True)).astype(np.float32)
    return appended(train, {"images": faces["images"][keep], "target": target,
                            "label": target.argmax(axis=1).astype(np.int32),
                            "names": faces["names"][keep]})


def appended(train: dict, faces: dict, repeat: int = 1) -> dict:
    """``train`` with ``faces`` (``images``, ``target``, ``label``, ``names``) appended ``repeat``
    times; ``parts`` records each set's face count and repeats, FER2013's first, for
    :func:`framed_boxes`."""
    keys = ("images", "target", "label", "names")
    parts = set_parts(train) + [(len(faces["images"]), repeat)]
    return {**{k: np.concatenate([train[k]] + [faces[k]] * repeat) for k in keys}, "parts": parts}


def set_parts(train: dict) -> list[tuple[int, int]]:
    """Each set of faces in ``train`` as (faces, times repeated), in order: one set until
    :func:`appended` adds another."""
    return train.get("parts", [(len(train["images"]), 1)])


def training_batches(train: dict, args: argparse.Namespace):
    """Framed crops of faces in context (:func:`framed` options) or shifted 48 px crops."""
    from faceinsight.training.batches import AugmentedBatches, FramedBatches  # Keras

    targets = train.get("target", train["label"])
    if not framed(args):
        return AugmentedBatches(train["images"], targets, args.batch_size, args.seed,
                                shift=4, **augmentation_options(args))
    jitter = BoxJitter(args.box_scale, args.box_shift, args.box_rotate)
    chip = chip_box(FER_CHIP_SIDE, FER_CONTEXT_PAD)
    box = framed_boxes(train, args, chip)
    return FramedBatches(train["images"], box, targets,
                         args.batch_size, args.seed, FER_CHIP_SIDE, jitter, None, args.erase,
                         args.workers, args.background, args.low_resolution, args.paste, chip,
                         args.photo_effects)


def framed_boxes(train: dict, args: argparse.Namespace, chip: tuple[int, int, int, int]):
    """:func:`served_boxes` for each set of faces (FER2013's, CK+'s, UTKFace's; each face once)
    apart: each set's detections are cached under its own fingerprint, so adding a set detects
    no face of another again."""
    boxes, start = [], 0
    for count, repeat in set_parts(train):
        faces = train["images"][start:start + count]
        boxes += [np.broadcast_to(served_boxes(args, faces, chip, "emotion"), (count, 4))] * repeat
        start += count * repeat
    return np.concatenate(boxes)


if __name__ == "__main__":
    main()
