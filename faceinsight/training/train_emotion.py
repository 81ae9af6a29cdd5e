"""Train the emotion model on FER2013: data, model, fit, evaluate.

    python -m faceinsight.training.train_emotion --data PATH/TO/fer2013 --out build/emotion

FER2013's ``train/`` trains; its ``val/`` (PublicTest) picks the best epoch and is reported.
With ``--box-scale``/``--box-shift``/``--box-rotate``/``--background`` the training crops are
cut from each face in a mirrored border through the serving crop function, the box varied as a
detector varies it (as the age/gender model trains); ``--detector-framing models`` first frames
each face as serving does (the served detector's box and the emotion geometry of that folder's
manifest). Without them, the 48 px crops are shifted.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from faceinsight.training.common import (
    add_framing_arguments,
    add_training_arguments,
    framed,
    limit_threads,
    seed_everything,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="FER2013 folder with train/ and val/")
    add_training_arguments(parser, out="build/emotion", epochs=14)
    parser.add_argument("--limit-per-class", type=int, default=None, help="smoke runs only")
    add_framing_arguments(parser, box_scale=0.0, box_shift=0.0, box_rotate=0.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    limit_threads(args.threads)
    seed_everything(args.seed)

    from faceinsight.training.architectures import emotion_model
    from faceinsight.training.batches import AugmentedBatches
    from faceinsight.training.common import compile_and_fit, new_model
    from faceinsight.training.datasets import load_fer2013

    started = time.time()
    print("loading FER2013 through the face pipeline...", flush=True)
    train = load_fer2013(args.data, "train", args.cache, limit_per_class=args.limit_per_class,
                         in_context=framed(args))
    val = load_fer2013(args.data, "val", args.cache, limit_per_class=args.limit_per_class)
    print(f"train {len(train['label'])} crops, val {len(val['label'])} crops", flush=True)

    train_batches = training_batches(train, args)
    val_batches = AugmentedBatches(val["images"], val["label"], 256, args.seed, 0, augment=False)
    model = new_model(emotion_model, args.init_weights)
    compile_and_fit(model, train_batches, val_batches, args, "val_accuracy", "max",
                    started, loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    from faceinsight.training.report import report_emotion
    return report_emotion(args.out, val, args.reports)


def training_batches(train: dict, args: argparse.Namespace):
    """Framed crops of faces in context (:func:`framed` options) or shifted 48 px crops."""
    from faceinsight.training.batches import AugmentedBatches, FramedBatches
    from faceinsight.training.common import BoxJitter, augmentation_options, served_boxes
    from faceinsight.training.datasets import FER_CHIP_SIDE, FER_CONTEXT_PAD, chip_box

    if not framed(args):
        return AugmentedBatches(train["images"], train["label"], args.batch_size, args.seed,
                                shift=4, **augmentation_options(args))
    jitter = BoxJitter(args.box_scale, args.box_shift, args.box_rotate)
    chip = chip_box(FER_CHIP_SIDE, FER_CONTEXT_PAD)
    box = served_boxes(args, train["images"], chip, "emotion")
    return FramedBatches(train["images"], box, train["label"],
                         args.batch_size, args.seed, FER_CHIP_SIDE, jitter, None, args.erase,
                         args.workers, args.background, args.low_resolution, args.paste, chip)


if __name__ == "__main__":
    main()
