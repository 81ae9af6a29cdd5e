"""CK+ posed faces (``ckplus48/``): a subject split that training and evaluation share.

CK+ holds the last three frames of each sequence and several sequences per subject, so faces
are split by subject, never by file: a subject is held out (evaluation only) by a hash of its
id, whichever other subjects a folder holds.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from faceinsight import crops, images
from faceinsight.datasets import FER_CHIP_SIDE, FER_CONTEXT_PAD, chip_in_context
from faceinsight.labels import EMOTIONS

HELD_OUT_FRACTION = 0.25  # about a quarter of the subjects are never trained on


def is_held_out_subject(subject: str, fraction: float = HELD_OUT_FRACTION) -> bool:
    """Whether a CK+ subject (e.g. ``'S010'``) is held out for evaluation: decided by a hash of
    its id alone.

    :param fraction: the share of subjects held out.
    """
    digest = int.from_bytes(hashlib.sha256(f"ckplus:{subject}".encode()).digest()[:8], "big")
    return digest / 2**64 < fraction


def read_rows(folder: Path, held_out: bool) -> list[tuple[str, int, str]]:
    """``(path, label, subject)`` of one side of the split; contempt (no ``emotion7``) is left
    out, having no class of ours.

    :param folder: the ``ckplus48/`` folder (``labels.csv``, ``images/``).
    :param held_out: True for the held-out subjects, False for the training subjects.
    """
    with (folder / "labels.csv").open(newline="") as handle:
        return [(row["path"], EMOTIONS.index(row["emotion7"]), row["subject"])
                for row in csv.DictReader(handle)
                if row["emotion7"] and is_held_out_subject(row["subject"]) == held_out]


def load_ckplus(folder: Path, held_out: bool, in_context: bool = False) -> dict[str, np.ndarray]:
    """One side of the subject split: ``images`` (N, 48, 48) bare crops as serving cuts a face
    crop (or, with ``in_context``, 80 x 80 faces in a mirrored border, as
    :func:`faceinsight.training.datasets.load_fer2013` gives FER2013's), ``label``, ``subject``, ``names``."""
    rows = read_rows(folder, held_out)
    if not rows:
        raise FileNotFoundError(f"no CK+ faces found in {folder}")
    faces = []
    for path, _, _ in rows:
        gray = images.to_gray(images.load_image(folder / path))
        faces.append(chip_in_context(gray, FER_CHIP_SIDE, FER_CONTEXT_PAD) if in_context
                      else crops.crops_for_whole_image(gray).emotion)
    return {"images": np.stack(faces), "label": np.array([r[1] for r in rows], np.int32),
            "subject": np.array([r[2] for r in rows]), "names": np.array([r[0] for r in rows])}
