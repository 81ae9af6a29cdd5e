"""Train the age/gender model on UTKFace: data, model, fit, evaluate.

    python -m faceinsight.training.train_age_gender --data PATH/TO/utkface --out build/age_gender

15 % of UTKFace, chosen by a hash of each file name, is held out for validation. Crops are cut
through the serving crop function with the box varied as a detector varies it, so the answer
holds on faces found in photos; ``--detector-framing models`` first frames each face as serving
does (the served detector's box and the age/gender geometry of that folder's manifest).
Children and people over 60 are rare in UTKFace; their crops are weighted up. The last epoch
is the model (the validation split chooses nothing). ``--teacher`` mixes teachers' saved age
distributions and P(female) for the training faces, averaged, into the targets (``--teacher-weight``;
:func:`faceinsight.training.losses.taught_targets`, :mod:`faceinsight.training.teachers.soft_labels`);
``--correct-disputed`` trusts the teachers over a gender label that all of them are sure is wrong.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from faceinsight.crops import AGE_GENDER_SIZE, WHOLE_BOX, crop_face
from faceinsight.datasets import VAL_FRACTION, chip_box
from faceinsight.labels import AGE_BANDS, age_band
from faceinsight.training.arguments import add_framing_arguments, add_training_arguments
from faceinsight.training.augment import BoxJitter
from faceinsight.training.datasets import load_utkface, split_by_name
from faceinsight.training.fit import compile_and_fit, limit_threads, new_model, seed_everything
from faceinsight.training.framing import served_boxes
from faceinsight.training.report import report_age_gender
from faceinsight.training.teachers.soft_labels import disputed_gender, teacher_age_gender


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="UTKFace's flat folder")
    add_training_arguments(parser, out="build/age_gender", epochs=12)
    parser.add_argument("--val-fraction", type=float, default=VAL_FRACTION)
    parser.add_argument("--limit", type=int, default=None, help="smoke runs only")
    add_framing_arguments(parser, box_scale=0.1, box_shift=0.05, box_rotate=10.0)
    parser.add_argument("--teacher", type=Path, nargs="+", default=None,
                        help="teachers' readings of the training faces, averaged "
                             "(build/teacher/faceres_train.npz, build/teacher/dlib_train.npz)")
    parser.add_argument("--teacher-weight", type=float, default=0.3,
                        help="the teacher's share of each target with --teacher (0..1)")
    parser.add_argument("--correct-disputed", type=float, default=0.0, metavar="SURE",
                        help="with --teacher: where every teacher gives the other sex at least "
                             "this probability (e.g. 0.9), the gender target is the teachers' "
                             "P(female) instead of the label (0: off)")
    args = parser.parse_args(argv)
    if args.correct_disputed and not args.teacher:
        parser.error("--correct-disputed needs --teacher: the teachers decide which labels are disputed")
    return args


def band_weights(ages: np.ndarray) -> np.ndarray:
    """Per-crop weights, inverse square root of the age band's share, mean 1."""
    bands = np.array([age_band(a) for a in ages])
    weights = np.ones(len(ages), np.float32)
    for name, _, _ in AGE_BANDS:
        members = bands == name
        if members.any():
            weights[members] = (members.mean() * len(AGE_BANDS)) ** -0.5
    return weights / weights.mean()


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    limit_threads(args.threads)
    seed_everything(args.seed)
    # These import Keras, which starts TensorFlow: only after --threads is applied.
    from faceinsight.training.architectures import age_gender_model
    from faceinsight.training.batches import FramedBatches
    from faceinsight.training.losses import (
        ExpectedAgeMAE,
        age_distribution_loss,
        gender_accuracy,
        taught_targets,
    )

    started = time.time()
    print("loading UTKFace through the face pipeline...", flush=True)
    data = load_utkface(args.data, args.cache, limit=args.limit)
    train_idx, val_idx = split_by_name(data["names"], args.val_fraction)
    train = {k: v[train_idx] for k, v in data.items()}
    val = {k: v[val_idx] for k, v in data.items()}
    print(f"train {len(train_idx)} crops, val {len(val_idx)} crops", flush=True)

    def targets(part):
        return {"age": part["age"].astype(np.float32),
                "gender": part["gender"].astype(np.float32)[:, None]}

    train_targets = targets(train)
    if args.teacher:
        teacher = teacher_age_gender(args.teacher, train["names"])
        names = ", ".join(path.name for path in args.teacher)
        print(f"teachers {names} for {int(teacher['taught'].sum())} of {len(train_idx)} "
              f"training faces; teacher weight {args.teacher_weight}", flush=True)
        train_targets = taught_targets(train["age"], train["gender"].astype(np.float32), teacher,
                                       args.teacher_weight)
        if args.correct_disputed:
            disputed = disputed_gender(args.teacher, train["names"], train["gender"],
                                       args.correct_disputed)
            train_targets["gender"][disputed, 0] = teacher["female"][disputed]
            print(f"gender targets of {int(disputed.sum())} disputed faces set to the teachers' "
                  f"P(female)", flush=True)
    jitter = BoxJitter(args.box_scale, args.box_shift, args.box_rotate)
    train_boxes = served_boxes(args, train["images"], chip_box(), "age_gender")
    train_batches = FramedBatches(train["images"], train_boxes, train_targets, args.batch_size,
                                  args.seed, AGE_GENDER_SIZE, jitter, band_weights(train["age"]),
                                  args.erase, args.workers, args.background, args.low_resolution,
                                  args.paste, chip_box(), args.photo_effects)
    val_batches = None
    if len(val_idx):
        val_batches = FramedBatches(val["images"], chip_box(), targets(val), 256, args.seed,
                                    AGE_GENDER_SIZE, None, workers=args.workers)
    model = new_model(age_gender_model, args)
    compile_and_fit(model, train_batches, val_batches, args, "loss", "min", started,
                    loss={"age": age_distribution_loss, "gender": "binary_crossentropy"},
                    loss_weights={"age": 1.0, "gender": 2.0},
                    metrics={"age": [ExpectedAgeMAE()], "gender": [gender_accuracy()]})

    if not len(val_idx):
        print("no validation files here (a packed training subset): no report", flush=True)
        return {}
    # the unvaried crops FramedBatches evaluates on: the chips in context cut at their own box
    bare = np.stack([crop_face(image, chip_box(), WHOLE_BOX, AGE_GENDER_SIZE) for image in val["images"]])
    return report_age_gender(args.out, {**val, "images": bare}, args.reports)


if __name__ == "__main__":
    main()
