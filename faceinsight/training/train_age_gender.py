"""Train the age/gender model on UTKFace: data, model, fit, evaluate.

    python -m faceinsight.training.train_age_gender --data PATH/TO/utkface --out build/age_gender

A seeded 15 % of UTKFace is held out for validation (best epoch and every reported figure).
Children and people over 60 are rare in UTKFace; their crops are weighted up.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from faceinsight.labels import AGE_BANDS, age_band
from faceinsight.training.common import add_training_arguments, limit_threads, seed_everything


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="UTKFace's flat folder")
    add_training_arguments(parser, out="build/age_gender", epochs=12)
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--limit", type=int, default=None, help="smoke runs only")
    return parser.parse_args(argv)


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
    from faceinsight.training.architectures import age_gender_model
    from faceinsight.training.batches import AugmentedBatches
    from faceinsight.training.common import augmentation_options, compile_and_fit, new_model
    from faceinsight.training.datasets import load_utkface, split_indices
    from faceinsight.training.losses import ExpectedAgeMAE, age_distribution_loss

    started = time.time()
    print("loading UTKFace through the face pipeline...", flush=True)
    data = load_utkface(args.data, args.cache, limit=args.limit)
    train_idx, val_idx = split_indices(len(data["age"]), args.val_fraction, args.seed)
    train = {k: v[train_idx] for k, v in data.items()}
    val = {k: v[val_idx] for k, v in data.items()}
    print(f"train {len(train_idx)} crops, val {len(val_idx)} crops", flush=True)

    def targets(part):
        return {"age": part["age"].astype(np.float32),
                "gender": part["gender"].astype(np.float32)[:, None]}

    train_batches = AugmentedBatches(train["images"], targets(train), args.batch_size, args.seed,
                                     shift=8, sample_weight=band_weights(train["age"]),
                                     **augmentation_options(args))
    val_batches = AugmentedBatches(val["images"], targets(val), 256, args.seed, 0, augment=False)
    model = new_model(age_gender_model, args.init_weights)
    compile_and_fit(model, train_batches, val_batches, args, "val_loss", "min", started,
                    loss={"age": age_distribution_loss, "gender": "binary_crossentropy"},
                    loss_weights={"age": 1.0, "gender": 2.0},
                    metrics={"age": [ExpectedAgeMAE()], "gender": ["binary_accuracy"]})

    from faceinsight.training.report import report_age_gender
    return report_age_gender(args.out, val, args.reports)


if __name__ == "__main__":
    main()
