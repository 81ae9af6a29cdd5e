"""A teacher's saved probabilities (``build/teacher/<split>.npz``: ``names``, ``probabilities``)
lined up with the faces a training run loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceinsight.labels import EMOTIONS


def teacher_probabilities(path: Path, names) -> np.ndarray:
    """The teacher's probabilities of each named face, zeros where the file names none (such a
    face keeps its own target when mixed: :func:`faceinsight.training.ferplus.mixed_targets`).

    :param path: the ``.npz`` :mod:`faceinsight.training.teachers.faceapi` writes.
    :param names: ``<emotion>/<file>`` as :func:`faceinsight.training.datasets.load_fer2013` names them.
    :returns: (N, 7) float32 in :data:`EMOTIONS` order.
    """
    saved = np.load(path)
    index = {str(name): row for row, name in enumerate(saved["names"])}
    rows = [index.get(str(name), -1) for name in names]
    table = np.concatenate([saved["probabilities"].astype(np.float32),
                            np.zeros((1, len(EMOTIONS)), np.float32)])  # row -1: no teacher
    return table[np.array(rows, int)] if rows else np.zeros((0, len(EMOTIONS)), np.float32)
