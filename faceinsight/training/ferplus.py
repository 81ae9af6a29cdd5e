"""FER+ soft targets: ten annotators' votes for each FER2013 file, mixed with its original label.

FER+ (Barsoum et al., ICMI 2016) names ten classes; seven are ours. Contempt, unknown and
not-a-face (NF) votes are dropped; a file with no vote left on our seven keeps its one-hot label.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from faceinsight.labels import EMOTIONS

# FER+'s column name -> our class name (the other columns are dropped).
FERPLUS_TO_EMOTION = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise",
                      "sadness": "sad", "anger": "angry", "disgust": "disgust", "fear": "fear"}


def read_votes(labels_csv: Path) -> dict[str, np.ndarray]:
    """Each file's votes on our seven classes, in :data:`EMOTIONS` order.

    :param labels_csv: FER+'s ``labels.csv`` (``path,neutral,happiness,...,NF``), ``path``
        relative to the FER2013 folder, e.g. ``train/happy/Training_10019449.jpg``.
    :returns: path -> (7,) float32 vote counts.
    """
    columns = [next(k for k, v in FERPLUS_TO_EMOTION.items() if v == name) for name in EMOTIONS]
    with labels_csv.open(newline="") as handle:
        return {row["path"]: np.array([float(row[c]) for c in columns], np.float32)
                for row in csv.DictReader(handle)}


def votes_for(names, split: str, votes: dict[str, np.ndarray]) -> np.ndarray:
    """The votes of each of one split's files, zeros for a file FER+ does not name.

    :param names: ``<emotion>/<file>`` as :func:`datasets.load_fer2013` names them.
    :param split: ``'train'`` or ``'val'``.
    :returns: (N, 7) float32.
    """
    missing = np.zeros(len(EMOTIONS), np.float32)
    return np.stack([votes.get(f"{split}/{name}", missing) for name in names]) if len(names) else \
        np.zeros((0, len(EMOTIONS)), np.float32)


def soft_targets(labels: np.ndarray, votes: np.ndarray, soft_weight: float) -> np.ndarray:
    """``(1 - soft_weight) * one_hot(label) + soft_weight * votes / sum(votes)``, per file.

    :param labels: (N,) original FER2013 labels, indices into :data:`EMOTIONS`.
    :param votes: (N, 7) vote counts on our classes (:func:`votes_for`).
    :param soft_weight: the votes' share, 0 (original labels only) to 1 (votes only).
    :returns: (N, 7) float32 rows summing to 1; a row without votes is its one-hot label.
    """
    return mixed_targets(np.eye(len(EMOTIONS), dtype=np.float32)[labels], votes, soft_weight)


def mixed_targets(targets: np.ndarray, votes: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * targets + weight * votes / sum(votes)``, per row; a row whose votes are
    all zero keeps its target. Votes may be counts (FER+) or a teacher's probabilities.

    :param targets: (N, 7) distributions (one-hot labels or targets mixed before).
    :param votes: (N, 7) non-negative weights on our classes.
    :param weight: the votes' share, 0 to 1.
    :returns: (N, 7) float32.
    """
    totals = votes.sum(axis=1, keepdims=True)
    has_votes = totals[:, 0] > 0
    distribution = np.where(has_votes[:, None], votes / np.where(totals > 0, totals, 1), targets)
    return ((1 - weight) * targets + weight * distribution).astype(np.float32)


def majority(votes: np.ndarray) -> np.ndarray:
    """FER+'s majority class of each file over our seven classes, -1 where there is none: no
    vote on the seven (not-a-face, contempt or unknown only) or a tie for the most votes.

    :param votes: (N, 7) vote counts.
    """
    top = votes.max(axis=1, keepdims=True)
    winners = (votes == top).sum(axis=1)
    return np.where((top[:, 0] > 0) & (winners == 1), votes.argmax(axis=1), -1)
