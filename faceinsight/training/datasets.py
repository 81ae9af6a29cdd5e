"""Read UTKFace and FER2013 from their public folder layouts through the face pipeline.

Decoded crops are cached as .npz files in a cache folder (ignored by git: arrays made from
the datasets must never be committed).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceinsight import crops, images
from faceinsight.labels import EMOTIONS


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
    import cv2

    interpolation = cv2.INTER_AREA if min(gray.shape[:2]) > side else cv2.INTER_LINEAR
    chip = cv2.resize(gray, (side, side), interpolation=interpolation)
    return cv2.copyMakeBorder(chip, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)


def chip_box(side: int = CHIP_SIDE, pad: int = CONTEXT_PAD) -> tuple[int, int, int, int]:
    """Where the chip lies in :func:`chip_in_context`'s image, as a box ``(x, y, w, h)``."""
    return pad, pad, side, side


def _face_crop_file(path: str) -> np.ndarray:
    return chip_in_context(images.to_gray(images.load_image(path)))


def _emotion_crop_file(path: str) -> np.ndarray:
    gray = images.to_gray(images.load_image(path))
    return crops.crops_for_whole_image(gray).emotion


def _emotion_context_file(path: str) -> np.ndarray:
    gray = images.to_gray(images.load_image(path))
    return chip_in_context(gray, FER_CHIP_SIDE, FER_CONTEXT_PAD)


def detector_framed_boxes(contexts: np.ndarray, chip: tuple[int, int, int, int], detector,
                          geometry: crops.CropGeometry, upscale: int = 3,
                          cache_dir: Path | None = None) -> tuple[np.ndarray, float]:
    """Each face's crop square as serving would cut it: the detector's box on the face in
    context, framed by the model's geometry; the chip itself where the detector finds no face.

    :param contexts: (N, H, W) uint8 faces in context, each chip at ``chip``.
    :param detector: the served detector (boxes found on a copy ``upscale`` times larger).
    :param geometry: the model's crop geometry for that detector (from the manifest).
    :param cache_dir: where to keep the detector's boxes between rounds (None: no cache).
    :returns: (N, 4) boxes ``(x, y, side, side)`` in context pixels, and the share found.
    """
    detected = cached_detections(contexts, chip, detector, upscale, cache_dir)
    boxes = np.tile(np.asarray(chip, np.float64), (len(contexts), 1))
    found = ~np.isnan(detected[:, 0])
    for index in np.flatnonzero(found):
        cx, cy, framed = geometry.square(tuple(detected[index]))
        boxes[index] = (cx - framed / 2, cy - framed / 2, framed, framed)
    return boxes, float(found.mean()) if len(contexts) else 0.0


def detections_on_chips(contexts: np.ndarray, chip: tuple[int, int, int, int], detector,
                        upscale: int = 3) -> np.ndarray:
    """The detector's box on each face in context, found on a copy ``upscale`` times larger.

    :returns: (N, 4) float boxes ``(x, y, w, h)`` in context pixels; NaN where no box lies on
        the chip.
    """
    import cv2

    from faceinsight.evaluate import match

    x, y, side, _ = chip
    boxes = np.full((len(contexts), 4), np.nan)
    for index, context in enumerate(contexts):
        large = cv2.resize(context, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
        detected = detector.detect(cv2.cvtColor(large, cv2.COLOR_GRAY2RGB))
        pairs = match(detected, [(x * upscale, y * upscale, side * upscale)])
        if pairs:
            boxes[index] = [v / upscale for v in detected[pairs[0]]]
    return boxes


def cached_detections(contexts: np.ndarray, chip: tuple[int, int, int, int], detector,
                      upscale: int = 3, cache_dir: Path | None = None) -> np.ndarray:
    """:func:`detections_on_chips`, kept in ``cache_dir`` under the faces' and the detector's
    fingerprints: every training round would detect the same faces again (about a minute for
    UTKFace's training faces on two CPU cores)."""
    if cache_dir is None:
        return detections_on_chips(contexts, chip, detector, upscale)
    faces = hashlib.sha256(np.ascontiguousarray(contexts).data)
    faces.update(f"{contexts.shape} {chip} {upscale}".encode())
    path = cache_dir / f"detections-{detector_fingerprint(detector)}-{faces.hexdigest()[:16]}.npy"
    if path.exists():
        return np.load(path)
    boxes = detections_on_chips(contexts, chip, detector, upscale)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, boxes)
    return boxes


def detector_fingerprint(detector) -> str:
    """A digest of what decides a detector's boxes: its kind, its weights, its thresholds and
    its class's settings (such as BlazeFace's second look at a padded copy), those of a detector
    it asks (BlazeFace's Haar check) and OpenCV's version (the Haar cascade ships with OpenCV)."""
    import cv2

    digest = hashlib.sha256(f"{detector.name} {cv2.__version__}".encode())
    settings = {key: getattr(type(detector), key) for key in dir(type(detector)) if key.isupper()}
    for key, value in sorted({**settings, **vars(detector)}.items()):
        if isinstance(value, bytes):
            digest.update(hashlib.sha256(value).digest())
        elif isinstance(value, (int, float, str)):
            digest.update(f" {key}={value}".encode())
        elif hasattr(value, "detect"):
            digest.update(f" {key}={detector_fingerprint(value)}".encode())
    return digest.hexdigest()[:16]


def _map_files(function, paths: list[str], workers: int) -> np.ndarray:
    if workers <= 1 or len(paths) < 64:
        return np.stack([function(p) for p in paths])
    with ProcessPoolExecutor(workers) as pool:
        return np.stack(list(pool.map(function, paths, chunksize=64)))


def _cache_path(cache_dir: Path, kind: str, names: list[str]) -> Path:
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    return cache_dir / f"{kind}-{digest}.npz"


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
    cache = _cache_path(cache_dir, f"utkface-context{CONTEXT_PAD}", names) if cache_dir else None
    if cache and cache.exists():
        return dict(np.load(cache))
    images = _map_files(_face_crop_file, [str(folder / n) for n in names], workers)
    data = {
        "images": images,
        "age": np.array([r.age for r in records], np.int32),
        "gender": np.array([r.gender for r in records], np.int32),
        "race": np.array([r.race for r in records], np.int32),
        "names": np.array(names),
    }
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **data)
    return data


VAL_FRACTION = 0.15  # UTKFace's validation share, chosen by file name


def utkface_names(folder: Path, validation: bool, val_fraction: float = VAL_FRACTION) -> list[str]:
    """The sorted names of UTKFace's readable chips in one split (see :func:`is_validation_name`).

    :param folder: UTKFace's flat folder.
    :param validation: True for the validation split, False for the training split.
    """
    return sorted(p.name for p in folder.iterdir() if parse_utkface_name(p.name)
                  and is_validation_name(p.name, val_fraction) == validation)


def fer2013_paths(folder: Path, split: str) -> list[Path]:
    """The sorted ``<emotion>/<file>.jpg`` paths of one FER2013 split (``'train'`` or ``'val'``)."""
    return sorted((folder / split).glob("*/*.jpg"))


def chip_crop(gray: np.ndarray) -> np.ndarray:
    """A UTKFace chip as the age/gender model sees it in training, unvaried: set in its
    mirrored context and cut by :func:`crops.crop_face` at the chip's own box."""
    return crops.crop_face(chip_in_context(gray), chip_box(), crops.WHOLE_BOX, CHIP_SIDE)


def is_validation_name(name: str, val_fraction: float) -> bool:
    """Whether a file belongs to the validation split: decided by its name alone (a hash), so
    the split is the same whichever other files a folder holds (a packed training subset, say).

    :param name: the file name, e.g. ``'26_1_2_20170116174525125.jpg.chip.jpg'``.
    :param val_fraction: the share of names that are validation, e.g. 0.15.
    """
    stem = name.split(".jpg")[0]  # a re-encoded copy (name + '.webp') keeps its split
    digest = int.from_bytes(hashlib.sha256(stem.encode()).digest()[:8], "big")
    return digest / 2**64 < val_fraction


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
    cache = _cache_path(cache_dir, kind, names) if cache_dir else None
    if cache and cache.exists():
        return dict(np.load(cache))
    read = _emotion_context_file if in_context else _emotion_crop_file
    data = {
        "images": _map_files(read, [str(p) for p in paths], workers),
        "label": np.array(labels, np.int32),
        "names": np.array(names),
    }
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **data)
    return data
