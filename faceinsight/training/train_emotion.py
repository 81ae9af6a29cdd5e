"""Train the emotion model on FER2013: data, model, fit, evaluate.

    python -m faceinsight.training.train_emotion --data PATH/TO/fer2013 --out build/emotion

FER2013's ``train/`` trains; its ``val/`` (PublicTest) picks the best epoch and is reported.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from faceinsight.training.common import limit_threads, seed_everything


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="FER2013 folder with train/ and val/")
    parser.add_argument("--out", type=Path, default=Path("build/emotion"))
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--cache", type=Path, default=Path(".cache"), help="decoded-array cache")
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all)")
    parser.add_argument("--budget-minutes", type=float, default=600, help="stop after this")
    parser.add_argument("--limit-per-class", type=int, default=None, help="smoke runs only")
    parser.add_argument("--init-weights", type=Path, default=None,
                        help="start from an earlier run's best.keras (same architecture)")
    parser.add_argument("--rotate", type=float, default=0.0, help="largest rotation, degrees")
    parser.add_argument("--zoom", type=float, default=0.0, help="largest zoom, e.g. 0.1")
    parser.add_argument("--erase", type=float, default=0.0, help="random-erasing chance")
    parser.add_argument("--keep-epochs", action="store_true",
                        help="also save every epoch (for weight averaging)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    limit_threads(args.threads)
    seed_everything(args.seed)

    from faceinsight.training.architectures import emotion_model
    from faceinsight.training.batches import AugmentedBatches
    from faceinsight.training.common import compile_and_fit
    from faceinsight.training.datasets import load_fer2013

    started = time.time()
    print("loading FER2013 through the face pipeline...", flush=True)
    train = load_fer2013(args.data, "train", args.cache, limit_per_class=args.limit_per_class)
    val = load_fer2013(args.data, "val", args.cache, limit_per_class=args.limit_per_class)
    print(f"train {len(train['label'])} crops, val {len(val['label'])} crops", flush=True)

    train_batches = AugmentedBatches(train["images"], train["label"], args.batch_size,
                                     args.seed, shift=4, rotate=args.rotate, zoom=args.zoom,
                                     erase=args.erase)
    val_batches = AugmentedBatches(val["images"], val["label"], 256, args.seed, 0, augment=False)
    model = emotion_model()
    if args.init_weights:
        print(f"starting from the weights in {args.init_weights.name}", flush=True)
        model.load_weights(args.init_weights)
    compile_and_fit(model, train_batches, val_batches, args, "val_accuracy", "max",
                    started, loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    from faceinsight.training.report import report_emotion
    return report_emotion(args.out, val, args.reports)


if __name__ == "__main__":
    main()
