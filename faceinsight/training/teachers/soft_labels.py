"""A teacher's saved readings lined up with the faces a training run loads: face-api's emotion
probabilities (``build/teacher/<split>.npz``: ``names``, ``probabilities``) and the age/gender
teachers' age distributions and P(female) (``build/teacher/faceres_<split>.npz``,
``build/teacher/dlib_<split>.npz``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceinsight.labels import MAX_AGE


def teacher_probabilities(path: Path, names) -> np.ndarray:
    """The teacher's probabilities of each named face, zeros where the file names none (such a
    face keeps its own target when mixed: :func:`faceinsight.training.ferplus.mixed_targets`).

    :param path: the ``.npz`` :mod:`faceinsight.training.teachers.faceapi` writes.
    :param names: ``<emotion>/<file>`` as :func:`faceinsight.training.datasets.load_fer2013` names them.
    :returns: (N, 7) float32 in :data:`EMOTIONS` order.
    """
    saved = np.load(path)
    return lined_up(saved["probabilities"], rows_of(saved["names"], names))


def rows_of(saved_names, names) -> np.ndarray:
    """Each of ``names``' row in ``saved_names``, -1 where it is not there."""
    index = {str(name): row for row, name in enumerate(saved_names)}
    return np.array([index.get(str(name), -1) for name in names], int)


def lined_up(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values``' rows at ``rows``, float32, all zeros for a row of -1 (no teacher)."""
    table = np.concatenate([values.astype(np.float32), np.zeros((1, *values.shape[1:]), np.float32)])
    return table[rows]


def teacher_age_gender(paths: Path | list[Path], names) -> dict[str, np.ndarray]:
    """Age/gender teachers' readings of each named face, averaged over the teachers that read it
    (zeros where none did: such a face keeps its own targets when mixed,
    :func:`faceinsight.training.losses.taught_targets`).

    :param paths: one ``.npz`` or several, as :mod:`faceinsight.training.teachers.faceres` and
        :mod:`faceinsight.training.teachers.dlib_age_gender` write them.
    :param names: UTKFace file names as :func:`faceinsight.training.datasets.load_utkface` names them.
    :returns: ``age_distribution`` (N, MAX_AGE + 1) over 0..MAX_AGE years (each teacher's own
        range, the rest zero), ``female`` (N,) P(female), ``taught`` (N,) bool: a file names the face.
    """
    readings = [one_teacher(path, names) for path in ([paths] if isinstance(paths, Path) else paths)]
    count = np.sum([reading["taught"] for reading in readings], axis=0).astype(np.float32)
    share = 1 / np.maximum(count, 1)
    return {"age_distribution": sum(r["age_distribution"] for r in readings) * share[:, None],
            "female": sum(r["female"] for r in readings) * share, "taught": count > 0}


def one_teacher(path: Path, names) -> dict[str, np.ndarray]:
    """One teacher's readings of each named face (:func:`teacher_age_gender`'s form)."""
    saved = np.load(path)
    rows = rows_of(saved["names"], names)
    distribution = lined_up(saved["age_distribution"], rows)[:, :MAX_AGE + 1]
    distribution = np.pad(distribution, ((0, 0), (0, MAX_AGE + 1 - distribution.shape[1])))
    return {"age_distribution": distribution, "female": lined_up(saved["female"], rows),
            "taught": rows >= 0}


def disputed_gender(paths: list[Path], names, female: np.ndarray, sure: float) -> np.ndarray:
    """The faces whose gender label every teacher is sure is wrong: each teacher read the face
    and gives the other sex a probability of at least ``sure``. Such labels are mostly the
    dataset's errors (by eye, 15 of the 17 validation faces that both teachers and our model
    dispute: docs/models/age-gender.md).

    :param paths: the teachers' ``.npz`` files (:func:`teacher_age_gender`'s).
    :param names: UTKFace file names; ``female``: (N,) 0/1 labels.
    :param sure: how sure each teacher must be of the other sex, e.g. 0.9.
    :returns: (N,) bool.
    """
    disputed = np.ones(len(names), bool)
    for path in paths:
        reading = one_teacher(path, names)
        other_sex = np.where(np.asarray(female) > 0.5, 1 - reading["female"], reading["female"])
        disputed &= reading["taught"] & (other_sex >= sure)
    return disputed
