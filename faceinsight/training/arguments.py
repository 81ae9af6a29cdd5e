"""The command-line options both training scripts share, and what they ask for."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_training_arguments(parser: argparse.ArgumentParser, out: str, epochs: int) -> None:
    """The options both training scripts share, after each script's own ``--data``."""
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--cache", type=Path, default=Path(".cache"), help="decoded-array cache")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all)")
    parser.add_argument("--budget-minutes", type=float, default=600, help="stop after this")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last finished epoch, with the "
                             "options it started with: one schedule across several sessions")
    parser.add_argument("--init-weights", type=Path, default=None,
                        help="start from an earlier run's best.keras (same architecture)")
    parser.add_argument("--average-from", type=int, default=0, metavar="EPOCH",
                        help="also save averaged.keras: the mean of the weights of every epoch "
                             "from this one on (stochastic weight averaging; 0: off)")
    parser.add_argument("--constant-learning-rate", action="store_true",
                        help="hold the learning rate after its warm-up epoch (with --average-from)")
    parser.add_argument("--rotate", type=float, default=0.0, help="largest rotation, degrees")
    parser.add_argument("--zoom", type=float, default=0.0, help="largest zoom, e.g. 0.1")
    parser.add_argument("--erase", type=float, default=0.0, help="random-erasing chance")


def add_framing_arguments(parser: argparse.ArgumentParser, box_scale: float, box_shift: float,
                          box_rotate: float) -> None:
    """Options for crops cut from faces in context with the box varied as a detector varies it
    (:class:`faceinsight.training.augment.BoxJitter`), with the defaults each script trains with."""
    parser.add_argument("--box-scale", type=float, default=box_scale, help="box side jitter, e.g. 0.1")
    parser.add_argument("--box-shift", type=float, default=box_shift, help="box centre jitter, box sides")
    parser.add_argument("--box-rotate", type=float, default=box_rotate, help="rotation jitter, degrees")
    parser.add_argument("--workers", type=int, default=1, help="threads that build batches")
    parser.add_argument("--background", type=float, default=0.0,
                        help="chance of another image's blurred content around the face")
    parser.add_argument("--low-resolution", type=float, default=0.0,
                        help="chance of seeing the face at a lower resolution")
    parser.add_argument("--paste", type=float, default=0.0,
                        help="chance of the face feathered onto a smooth random background")
    parser.add_argument("--photo-effects", type=float, default=0.0,
                        help="chance of real photos' effects: exposure, blur, noise, JPEG, a turn, "
                             "a hand or glasses")
    parser.add_argument("--detector-framing", type=Path, default=None, metavar="MODELS",
                        help="frame each training face as serving does: the detector and this "
                             "model's geometry in that models folder's manifest (then jittered)")


def framed(args: argparse.Namespace) -> bool:
    """Whether the options of :func:`add_framing_arguments` ask for framed crops at all."""
    return any((args.box_scale, args.box_shift, args.box_rotate, args.background, args.low_resolution,
                args.paste, args.photo_effects, args.detector_framing))


def augmentation_options(args: argparse.Namespace) -> dict[str, float]:
    """The optional augmentations chosen on the command line, for ``AugmentedBatches``."""
    return {"rotate": args.rotate, "zoom": args.zoom, "erase": args.erase}
