"""Teachers: other projects' networks, run at training time only, whose outputs on our training
faces become soft targets. Serving never loads them. The emotion teachers read FER2013's faces
or UTKFace's (which have no emotion labels), as :func:`add_face_source_arguments` lets them."""

from __future__ import annotations

import argparse
from pathlib import Path

from faceinsight.training.datasets import load_fer2013, load_utkface_as_emotion_faces


def add_face_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Whose faces an emotion teacher reads: FER2013's (``--data``, ``--split``) or UTKFace's
    training split (``--utkface``); ``--cache`` keeps the decoded faces."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="FER2013 folder with train/ and val/")
    source.add_argument("--utkface", type=Path,
                        help="UTKFace folder: its training-split faces, which have no emotion labels")
    parser.add_argument("--split", default="train", choices=("train", "val"), help="FER2013's split")
    parser.add_argument("--cache", type=Path, default=Path(".cache"), help="decoded-array cache")


def source_faces(args: argparse.Namespace, in_context: bool = False) -> dict:
    """The faces :func:`add_face_source_arguments` named: 48 px pipeline crops (or, with
    ``in_context``, 80 px faces in a mirrored border), ``names`` and, for FER2013, ``label``."""
    if args.utkface:
        return load_utkface_as_emotion_faces(args.utkface, args.cache, in_context=in_context)
    return load_fer2013(args.data, args.split, args.cache, in_context=in_context)
