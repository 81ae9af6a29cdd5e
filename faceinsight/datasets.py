"""The public datasets on disk: UTKFace's file names and validation split, FER2013's folders,
and a dataset chip set in its mirrored context.

Training, the crop calibration and the served-path evaluation all read the datasets through
these, so each sees the same split and the same chips. The folders are laid out as the public
releases are: UTKFace's flat folder of ``age_gender_race_date.jpg.chip.jpg`` files, FER2013's
``train/`` and ``val/`` with one folder per emotion.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceinsight import crops


@dataclass
class UTKFaceRecord:
    name: str
    age: int
    gender: int  # 0 male, 1 female
    race: int  # 0..4, or -1 where the file name has none


def parse_utkface_name(name: str) -> UTKFaceRecord | None:
    """Read age, gender and race from a UTKFace file name; None when it cannot be read.

    :param name: e.g. ``'26_1_2_20170116174525125.jpg.chip.jpg'``. Irregular names (no race
        field, a space before ``.jpg``) are read by splitting on ``_``, not by a strict pattern.
    """
    fields = name.split("_")
    try:
        age, gender = int(fields[0]), int(fields[1])
    except (IndexError, ValueError):
        return None
    race = -1
    if len(fields) >= 4:
        try:
            race = int(fields[2])
        except ValueError:
            race = -1
    if gender not in (0, 1) or age < 0:
        return None
    return UTKFaceRecord(name=name, age=age, gender=gender, race=race)


# UTKFace chips are read at the model's input side and set in a mirrored border, so that
# training can cut crops the way a detector's box varies (larger, smaller, shifted, turned).
CHIP_SIDE = crops.AGE_GENDER_SIZE
CONTEXT_PAD = 40
FER_CHIP_SIDE = crops.EMOTION_SIZE  # FER2013's faces are 48 px already
FER_CONTEXT_PAD = 16


def chip_in_context(gray: np.ndarray, side: int = CHIP_SIDE, pad: int = CONTEXT_PAD) -> np.ndarray:
    """A face chip resized to ``side`` and surrounded by ``pad`` pixels of its mirror image.

    :param gray: the chip, grayscale, any size.
    :returns: ``(side + 2 pad)`` square uint8; the chip itself is ``chip_box(side, pad)``.
    """
    interpolation = cv2.INTER_AREA if min(gray.shape[:2]) > side else cv2.INTER_LINEAR
    chip = cv2.resize(gray, (side, side), interpolation=interpolation)
    return cv2.copyMakeBorder(chip, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)


def chip_box(side: int = CHIP_SIDE, pad: int = CONTEXT_PAD) -> tuple[int, int, int, int]:
    """Where the chip lies in :func:`chip_in_context`'s image, as a box ``(x, y, w, h)``."""
    return pad, pad, side, side


VAL_FRACTION = 0.15  # UTKFace's validation share, chosen by file name


def utkface_names(folder: Path, validation: bool, val_fraction: float = VAL_FRACTION) -> list[str]:
    """The sorted names of UTKFace's readable chips in one split (see :func:`is_validation_name`).

    :param folder: UTKFace's flat folder.
    :param validation: True for the validation split, False for the training split.
    """
    return sorted(p.name for p in folder.iterdir() if parse_utkface_name(p.name)
                  and is_validation_name(p.name, val_fraction) == validation)


def is_validation_name(name: str, val_fraction: float) -> bool:
    """Whether a file belongs to the validation split: decided by its name alone (a hash), so
    the split is the same whichever other files a folder holds (a packed training subset, say).

    :param name: the file name, e.g. ``'26_1_2_20170116174525125.jpg.chip.jpg'``.
    :param val_fraction: the share of names that are validation, e.g. 0.15.
    """
    stem = name.split(".jpg")[0]  # a re-encoded copy (name + '.webp') keeps its split
    digest = int.from_bytes(hashlib.sha256(stem.encode()).digest()[:8], "big")
    return digest / 2**64 < val_fraction


def fer2013_paths(folder: Path, split: str) -> list[Path]:
    """The sorted ``<emotion>/<file>.jpg`` paths of one FER2013 split (``'train'`` or ``'val'``)."""
    return sorted((folder / split).glob("*/*.jpg"))
