"""UTKFace and FER2013 as arrays for training, read through the face pipeline.

Decoded crops are cached as .npz files in a cache folder (ignored by git: arrays made from
the datasets must never be committed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from faceinsight import crops, images
from faceinsight.datasets import (
    CHIP_SIDE,
    CONTEXT_PAD,
    FER_CHIP_SIDE,
    FER_CONTEXT_PAD,
    chip_box,
    chip_in_context,
    is_validation_name,
    parse_utkface_name,
    utkface_names,
)
from faceinsight.labels import EMOTIONS


def _face_crop_file(path: str) -> np.ndarray:
    return chip_in_context(images.to_gray(images.load_image(path)))


def _emotion_crop_file(path: str) -> np.ndarray:
    gray = images.to_gray(images.load_image(path))
    return crops.crops_for_whole_image(gray).emotion


def _emotion_context_file(path: str) -> np.ndarray:
    gray = images.to_gray(images.load_image(path))
    return chip_in_context(gray, FER_CHIP_SIDE, FER_CONTEXT_PAD)


def _map_files(function, paths: list[str], workers: int) -> np.ndarray:
    if workers <= 1 or len(paths) < 64:
        return np.stack([function(p) for p in paths])
    with ProcessPoolExecutor(workers) as pool:
        return np.stack(list(pool.map(function, paths, chunksize=64)))


def _cache_path(cache_dir: Path, kind: str, names: list[str]) -> Path:
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    return cache_dir / f"{kind}-{digest}.npz"


def _cached(cache_dir: Path | None, kind: str, names: list[str],
            build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``build()``'s arrays, kept in ``cache_dir`` under ``kind`` and a digest of ``names`` and
    read back from there on later runs (no cache with ``cache_dir`` None)."""
    cache = _cache_path(cache_dir, kind, names) if cache_dir else None
    if cache and cache.exists():
        return dict(np.load(cache))
    data = build()
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **data)
    return data


def load_utkface(folder: Path, cache_dir: Path | None = None, workers: int = 2,
                 limit: int | None = None) -> dict[str, np.ndarray]:
    """All UTKFace chips in a folder, each in its mirrored context (see :func:`chip_in_context`).

    :param folder: UTKFace's flat folder of ``age_gender_race_date.jpg.chip.jpg`` files.
    :param cache_dir: where to keep decoded arrays between runs (None: no cache).
    :param workers: processes used to decode.
    :param limit: read only the first ``limit`` files (sorted), for smoke runs.
    :returns: ``images`` (N, 208, 208) uint8 chips in context, ``age``, ``gender``, ``race``,
        ``names``.
    """
    records = [r for p in sorted(folder.iterdir()) if p.is_file()
               and (r := parse_utkface_name(p.name)) is not None]
    records = records[:limit] if limit else records
    if not records:
        raise FileNotFoundError(f"no UTKFace images found in {folder}")
    names = [r.name for r in records]
    return _cached(cache_dir, f"utkface-context{CONTEXT_PAD}", names, lambda: {
        "images": _map_files(_face_crop_file, [str(folder / n) for n in names], workers),
        "age": np.array([r.age for r in records], np.int32),
        "gender": np.array([r.gender for r in records], np.int32),
        "race": np.array([r.race for r in records], np.int32),
        "names": np.array(names),
    })


UTKFACE_PREFIX = "utkface/"  # how emotion training names UTKFace's faces beside FER2013's


def load_utkface_as_emotion_faces(folder: Path, cache_dir: Path | None = None, workers: int = 2,
                                  in_context: bool = False,
                                  limit: int | None = None) -> dict[str, np.ndarray]:
    """UTKFace's training-split chips as emotion faces without labels: the 48 px crop serving
    cuts from a whole-image face, or (``in_context``) the chip at FER2013's 48 px in a mirrored
    border, as :func:`load_fer2013` gives FER2013's. The validation split is left out, as the
    evaluation's photos use it.

    :param folder: UTKFace's flat folder.
    :param limit: read only the first ``limit`` files (sorted), for smoke runs.
    :returns: ``images`` (N, 48, 48) uint8 (in context: 80 x 80) and ``names``
        (``utkface/<file>``).
    """
    names = utkface_names(folder, validation=False)[:limit]
    if not names:
        raise FileNotFoundError(f"no UTKFace images found in {folder}")
    kind = "utkface-emotion-context" if in_context else "utkface-emotion"
    read = _emotion_context_file if in_context else _emotion_crop_file
    return _cached(cache_dir, kind, names, lambda: {
        "images": _map_files(read, [str(folder / n) for n in names], workers),
        "names": np.array([UTKFACE_PREFIX + n for n in names]),
    })


def chip_crop(gray: np.ndarray) -> np.ndarray:
    """A UTKFace chip as the age/gender model sees it in training, unvaried: set in its
    mirrored context and cut by :func:`crops.crop_face` at the chip's own box."""
    return crops.crop_face(chip_in_context(gray), chip_box(), crops.WHOLE_BOX, CHIP_SIDE)


def split_by_name(names, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The train/validation split of a list of file names (see :func:`is_validation_name`).

    :returns: ``(train_indices, val_indices)``.
    """
    val = np.array([is_validation_name(str(n), val_fraction) for n in names], bool)
    return np.flatnonzero(~val), np.flatnonzero(val)


def load_fer2013(folder: Path, split: str, cache_dir: Path | None = None, workers: int = 2,
                 limit_per_class: int | None = None, in_context: bool = False) -> dict[str, np.ndarray]:
    """One split of FER2013's image-folder release as 48 px pipeline crops (or, with
    ``in_context``, as faces in a mirrored border: ``chip_box(FER_CHIP_SIDE, FER_CONTEXT_PAD)``).

    :param folder: the folder holding ``train/`` and ``val/``.
    :param split: ``'train'`` or ``'val'``.
    :param cache_dir: where to keep decoded arrays between runs (None: no cache).
    :param workers: processes used to decode.
    :param limit_per_class: read at most this many images per emotion, for smoke runs.
    :param in_context: the faces in their mirrored border, for :class:`FramedBatches`.
    :returns: ``images`` (N, 48, 48) uint8 (in context: 80 x 80), ``label`` (index into EMOTIONS), ``names``.
    """
    paths: list[Path] = []
    labels: list[int] = []
    for index, emotion in enumerate(EMOTIONS):
        files = sorted(p for p in (folder / split / emotion).glob("*")
                       if p.suffix.lower() in images.IMAGE_EXTENSIONS)
        files = files[:limit_per_class] if limit_per_class else files
        paths += files
        labels += [index] * len(files)
    if not paths:
        raise FileNotFoundError(f"no FER2013 images found in {folder / split}")
    names = [f"{p.parent.name}/{p.name}" for p in paths]  # a file name alone is not unique
    kind = f"fer2013-{split}-context" if in_context else f"fer2013-{split}"
    read = _emotion_context_file if in_context else _emotion_crop_file
    return _cached(cache_dir, kind, names, lambda: {
        "images": _map_files(read, [str(p) for p in paths], workers),
        "label": np.array(labels, np.int32),
        "names": np.array(names),
    })
