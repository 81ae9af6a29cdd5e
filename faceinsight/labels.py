"""Label names and brackets shared by training, the models' manifest and the outputs, and the
rules that turn a model's numbers into them (age group, gender)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Alphabetical, the order of FER2013's image-folder release. The original CSV numbers them
# differently (0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral): we use
# folder names, never CSV numbers, so this tuple is the only mapping.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
GENDERS: tuple[str, str] = ("male", "female")  # UTKFace: 0 male, 1 female; the model gives P(female)
MAX_AGE = 100  # the age model predicts a distribution over 0..MAX_AGE years
AGE_GROUPS: tuple[tuple[str, int, int], ...] = (
    ("0-18", 0, 18), ("19-30", 19, 30), ("31-80", 31, 80), ("80+", 81, 10_000),
)
# Bands the model card reports; children and people over 60 are where age models do worst.
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("0-12", 0, 12), ("13-19", 13, 19), ("20-39", 20, 39), ("40-59", 40, 59), ("60+", 60, 10_000),
)
RACES: tuple[str, ...] = ("White", "Black", "Asian", "Indian", "Others")


def whole_years(age: float) -> int:
    """An age estimate in whole years, halves up (30.5 -> 31), as every way in shows it: the
    page's JavaScript rounds so, where Python's ``round`` would give 30 (halves to even).

    :param age: years.
    """
    return math.floor(age + 0.5)


def age_group(age: float) -> str:
    """The product's bracket for an age estimate: '0-18', '19-30', '31-80' or '80+'.

    :param age: the estimate in years; it is rounded to whole years first (:func:`whole_years`).
    """
    years = whole_years(age)
    for name, low, high in AGE_GROUPS:
        if low <= years <= high:
            return name
    return AGE_GROUPS[0][0] if years < 0 else AGE_GROUPS[-1][0]


def age_band(age: float) -> str:
    """The model card's band for an age: '0-12', '13-19', '20-39', '40-59' or '60+'.

    :param age: years.
    """
    years = whole_years(age)
    for name, low, high in AGE_BANDS:
        if low <= years <= high:
            return name
    return AGE_BANDS[0][0]


def gender_of(female: float) -> tuple[str, float]:
    """The reported gender and its probability, from the model's P(female)."""
    return (GENDERS[1], female) if female >= 0.5 else (GENDERS[0], 1.0 - female)


def female_probability(face: Mapping[str, Any]) -> float:
    """P(female) back from a face's (or a track's) ``gender`` and ``gender_probability``."""
    p = float(face["gender_probability"])
    return p if face["gender"] == GENDERS[1] else 1.0 - p
