"""The shipped models: manifest, chunks, verification, and the face models' numbers.

Models live in ``models/`` as chunks listed in ``models/manifest.json`` with their sizes and
SHA-256 sums. They are reassembled in memory, verified, and loaded once, lazily, by
:func:`get_models`. A missing or corrupt chunk raises :class:`ModelError` naming the file,
never a wrong prediction.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceinsight import detectors, paths
from faceinsight.crops import AGE_GENDER_SIZE, EMOTION_SIZE, CropGeometry, Framing
from faceinsight.labels import EMOTIONS, MAX_AGE
from faceinsight.litert import ModelError, Shape, TFLiteModel

MODELS_DIR = paths.MODELS
MANIFEST_NAME = "manifest.json"
AGE_INTERVAL = (0.1, 0.9)  # the reported age range holds 80 % of the predicted distribution


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(models_dir: Path) -> dict:
    """Read ``manifest.json`` from a models folder.

    :param models_dir: the folder holding the manifest and the chunks.
    :raises ModelError: the manifest is missing or not valid JSON.
    """
    path = models_dir / MANIFEST_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ModelError(f"model manifest not found: {path}") from error
    except (OSError, ValueError) as error:
        raise ModelError(f"model manifest unreadable: {path}: {error}") from error


def save_manifest(models_dir: Path, manifest: dict) -> Path:
    """Write ``manifest.json`` into a models folder (the one format every writer uses)."""
    path = models_dir / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def _read_verified(path: Path, size: int, sha256: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise ModelError(f"model file missing: {path}") from error
    except OSError as error:
        raise ModelError(f"model file unreadable: {path}: {error.strerror}") from error
    if len(data) != size or sha256_bytes(data) != sha256:
        raise ModelError(f"model file corrupt (size or checksum differs from the manifest): {path}")
    return data


def assemble_model(models_dir: Path, entry: dict) -> bytes:
    """The bytes of one model, from its whole file if present and intact, else its chunks.

    :param models_dir: the folder holding the chunks.
    :param entry: the model's manifest entry (``file``, ``size``, ``sha256``, ``chunks``).
    :raises ModelError: a chunk is missing or corrupt, or the whole does not verify.
    """
    whole = models_dir / entry["file"]
    if whole.exists():
        try:
            data = whole.read_bytes()
        except OSError:
            data = b""  # unreadable: the chunks decide
        if len(data) == entry["size"] and sha256_bytes(data) == entry["sha256"]:
            return data
    parts = [_read_verified(models_dir / c["file"], c["size"], c["sha256"]) for c in entry["chunks"]]
    data = b"".join(parts)
    if len(data) != entry["size"] or sha256_bytes(data) != entry["sha256"]:
        raise ModelError(f"model {entry['file']} reassembled from chunks does not match its checksum")
    return data


def chunked_entry(data: bytes, models_dir: Path, file_name: str, chunk_size: int) -> dict:
    """Write model bytes as fresh chunks (an older model's chunks of that file are removed) and
    return the manifest entry's ``file``, ``size``, ``sha256`` and ``chunks``."""
    for stale in models_dir.glob(f"{file_name}*"):
        stale.unlink()
    return {"file": file_name, "size": len(data), "sha256": sha256_bytes(data),
            "chunks": write_chunks(data, models_dir, file_name, chunk_size)}


def write_chunks(data: bytes, models_dir: Path, file_name: str, chunk_size: int) -> list[dict]:
    """Split model bytes into ``<file_name>.partNNN`` files of at most ``chunk_size`` bytes.

    :returns: the manifest's chunk list (file, size, sha256), in order.
    """
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    chunks = []
    for number, start in enumerate(range(0, len(data), chunk_size)):
        part = data[start:start + chunk_size]
        name = f"{file_name}.part{number:03d}"
        (models_dir / name).write_bytes(part)
        chunks.append({"file": name, "size": len(part), "sha256": sha256_bytes(part)})
    return chunks


@dataclass(frozen=True)
class AgeGender:
    """The age model's numbers for one face: expected age, its 80 % interval, P(female)."""

    age: float
    age_range: tuple[int, int]
    female_probability: float


@dataclass(frozen=True)
class Prediction(AgeGender):
    """Both models' numbers for one face: the age model's, then the seven emotion scores
    (summing to 1, in :data:`EMOTIONS` order)."""

    emotion_scores: dict[str, float]


def summarise_age(distribution: np.ndarray) -> tuple[float, tuple[int, int]]:
    """Expected age and the 80 % interval of a distribution over 0..MAX_AGE years.

    :param distribution: (MAX_AGE + 1,) probabilities.
    """
    p = np.clip(np.asarray(distribution, np.float64).reshape(-1), 0, None)
    p = p / p.sum() if p.sum() > 0 else np.full_like(p, 1 / len(p))
    ages = np.arange(len(p))
    cumulative = np.cumsum(p)
    low = int(np.searchsorted(cumulative, AGE_INTERVAL[0]))
    high = int(np.searchsorted(cumulative, AGE_INTERVAL[1]))
    return float((p * ages).sum()), (low, min(high, MAX_AGE))


REQUIRED_MODELS = ("age_gender", "emotion", "face_embedding")


def models_folder(models_dir: Path | str | None = None) -> Path:
    """The models folder: ``models_dir``, else ``$FACEINSIGHT_MODELS``, else the shipped ``models/``."""
    return Path(models_dir or os.environ.get("FACEINSIGHT_MODELS") or MODELS_DIR)


def read_verified_models(models_dir: Path) -> tuple[dict, dict[str, bytes]]:
    """The manifest and the verified bytes of every model it must list.

    :param models_dir: the folder holding the manifest and the chunks.
    :raises ModelError: the manifest is missing, malformed or lacks a model, or a chunk is
        missing or corrupt (the message names the file).
    """
    manifest = read_manifest(models_dir)
    entries = manifest.get("models") if isinstance(manifest, dict) else None
    if not isinstance(entries, dict):
        raise ModelError(f"the manifest {models_dir / MANIFEST_NAME} has no 'models' table")
    contents = {}
    for key in REQUIRED_MODELS:
        if key not in entries:
            raise ModelError(f"the manifest {models_dir / MANIFEST_NAME} lists no {key} model")
        try:
            contents[key] = assemble_model(models_dir, entries[key])
        except (KeyError, TypeError, AttributeError) as error:
            raise ModelError(f"the manifest {models_dir / MANIFEST_NAME} describes the {key} model "
                             f"wrongly: {error!r}") from error
    return manifest, contents


def verify_model_files(models_dir: Path | str | None = None) -> Path:
    """Check that every model file is present and intact, without loading an interpreter.

    Cheap (checksums only) and safe before a fork: gunicorn's master calls it at start-up.

    :param models_dir: the folder (default: see :func:`models_folder`).
    :returns: the folder checked.
    :raises ModelError: naming the missing or corrupt file.
    """
    folder = models_folder(models_dir)
    manifest, _ = read_verified_models(folder)
    name = detector_name(manifest)
    serving_framing(manifest, name)
    detector_weights(folder, manifest, name)
    if name == detectors.BLAZEFACE:
        detector_weights(folder, manifest, detectors.BLAZEFACE_SHORT_RANGE)
    return folder


def detector_name(manifest: dict, requested: str | None = None) -> str:
    """The detector to serve with: ``requested``, else ``$FACEINSIGHT_DETECTOR``, else the
    manifest's ``default_detector``, else Haar (the design's detector).

    :raises ModelError: the name is not a detector this product has.
    """
    name = (requested or os.environ.get("FACEINSIGHT_DETECTOR") or manifest.get("default_detector")
            or detectors.HAAR)
    if name not in detectors.DETECTORS:
        raise ModelError(f"unknown face detector {name!r}; choose one of {', '.join(detectors.DETECTORS)}")
    return name


def model_geometry(manifest: dict, key: str, detector: str) -> CropGeometry:
    """A model's crop geometry for a detector, as calibrated and recorded in the manifest.

    :raises ModelError: the model was not calibrated for that detector: serving it would show
        it a framing it never learnt.
    """
    framing = manifest["models"][key].get("framing", {})
    geometry = framing.get("detectors", {}).get(detector)
    if not isinstance(geometry, dict):
        known = ", ".join(framing.get("detectors", {})) or "none"
        raise ModelError(f"the {key} model has no crop geometry for the {detector!r} detector "
                         f"(calibrated for: {known}); run "
                         "faceinsight.eval.calibrate or pick another detector")
    try:
        return CropGeometry(float(geometry["scale"]), float(geometry["dx"]), float(geometry["dy"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"the {key} model's crop geometry for {detector!r} is malformed: {error!r}") \
            from error


def serving_framing(manifest: dict, detector: str) -> Framing:
    """Both models' crop geometries for ``detector`` (see :func:`model_geometry`)."""
    return Framing(age_gender=model_geometry(manifest, "age_gender", detector),
                   emotion=model_geometry(manifest, "emotion", detector))


def detector_weights(models_dir: Path, manifest: dict, name: str) -> bytes | None:
    """The named detector's weights, verified from the manifest's chunks; None for Haar, whose
    cascade ships inside OpenCV.

    :raises ModelError: the manifest lists no weights for it, or a chunk is missing or corrupt.
    """
    if name == detectors.HAAR:
        return None
    entry = manifest.get("detectors", {}).get(name)
    if not isinstance(entry, dict):
        raise ModelError(f"the manifest lists no weights for the {name!r} detector")
    return assemble_model(models_dir, entry)


def serving_detector(models_dir: Path, manifest: dict, name: str) -> detectors.Detector:
    """The named detector, its weights verified: Haar, or BlazeFace with its short-range model
    for the second look.

    :raises ModelError: the manifest lacks a model it needs, or a chunk is missing or corrupt.
    """
    weights = detector_weights(models_dir, manifest, name)
    if weights is None:
        return detectors.HaarDetector()
    return detectors.BlazeFaceDetector(
        weights, detector_weights(models_dir, manifest, detectors.BLAZEFACE_SHORT_RANGE))


# Each output's shape, by the name the manifest's ``output_order`` gives it.
AGE_GENDER_OUTPUTS: dict[str, Shape] = {"age": (1, MAX_AGE + 1), "gender": (1, 1)}
EMOTION_OUTPUTS: dict[str, Shape] = {"emotion": (1, len(EMOTIONS))}
EMBEDDING_SIDE, EMBEDDING_WIDTH = 150, 128  # the face embedding's RGB input side, output width


def face_model(content: bytes, key: str, entry: dict, shapes: dict[str, Shape], side: int,
               threads: int) -> tuple[TFLiteModel, list[str]]:
    """One face model, loaded and checked against what the product reads: its outputs named by
    the manifest's ``output_order`` (the converter records it) with those names' ``shapes``,
    its input one ``side`` x ``side`` grayscale crop.

    :returns: the model and its output names in output-index order.
    :raises ModelError: the order does not name each output once, or a shape differs.
    """
    names = entry.get("output_order", list(shapes))
    if not isinstance(names, list) or sorted(map(str, names)) != sorted(shapes):
        raise ModelError(f"the manifest's output_order {names!r} for the {key} model must name "
                         f"each of {', '.join(shapes)} once")
    return TFLiteModel(content, key, threads, outputs=[shapes[name] for name in names],
                       input_shape=(1, side, side, 1)), names


class FaceModels:
    """The detector and the age/gender and emotion models, ready to analyse faces; the face
    embedding (videos' people) is loaded on its first use.

    :param models_dir: the folder holding the manifest and the chunks.
    :param threads: LiteRT threads per interpreter (each thread that analyses has its own).
    :param detector: the detector's name (default: see :func:`detector_name`).
    :raises ModelError: a file is missing or corrupt, a model's inputs or outputs are not the
        shapes the product reads, or a model is not calibrated for the detector.
    """

    def __init__(self, models_dir: Path = MODELS_DIR, threads: int = 1, detector: str | None = None):
        self.models_dir = Path(models_dir)
        self.manifest, contents = read_verified_models(self.models_dir)
        entries = self.manifest["models"]
        name = detector_name(self.manifest, detector)
        self.framing = serving_framing(self.manifest, name)
        self.detector = serving_detector(self.models_dir, self.manifest, name)
        self.age_gender, self._age_output = face_model(
            contents["age_gender"], "age_gender", entries["age_gender"], AGE_GENDER_OUTPUTS,
            AGE_GENDER_SIZE, threads)
        self.emotion, _ = face_model(contents["emotion"], "emotion", entries["emotion"],
                                     EMOTION_OUTPUTS, EMOTION_SIZE, threads)
        self._embedding_content, self._threads = contents["face_embedding"], threads
        self._embedding: TFLiteModel | None = None
        self._embedding_lock = threading.Lock()

    def predict_age_gender(self, crop128: np.ndarray) -> AgeGender:
        """Age estimate, its 80 % interval and P(female) for one 128 px crop."""
        outputs = dict(zip(self._age_output, self.age_gender.run(crop128), strict=True))
        age, interval = summarise_age(outputs["age"])
        return AgeGender(age, interval, float(np.asarray(outputs["gender"]).reshape(-1)[0]))

    def predict_emotion(self, crop48: np.ndarray) -> dict[str, float]:
        """The seven emotion scores (summing to 1) for one 48 px crop."""
        scores = np.asarray(self.emotion.run(crop48)[0], np.float64).reshape(-1)
        scores = scores / scores.sum()
        return {name: float(s) for name, s in zip(EMOTIONS, scores, strict=True)}

    def describe_face(self, square: np.ndarray) -> np.ndarray:
        """The face embedding's descriptor of one face: two faces of one person lie close.

        :param square: EMBEDDING_SIDE x EMBEDDING_SIDE x 3 uint8 RGB around the face
            (:func:`faceinsight.video.people.embedding_input`).
        :returns: EMBEDDING_WIDTH float32 numbers.
        """
        if self._embedding is None:
            with self._embedding_lock:
                if self._embedding is None:
                    self._embedding = TFLiteModel(
                        self._embedding_content, "face_embedding", self._threads,
                        outputs=[(1, EMBEDDING_WIDTH)], input_shape=(1, EMBEDDING_SIDE, EMBEDDING_SIDE, 3))
        return self._embedding.run(square)[0].reshape(-1)

    def predict(self, crop128: np.ndarray, crop48: np.ndarray) -> Prediction:
        """Both models' numbers for one face (:class:`Prediction`).

        :param crop128: the face's age/gender input, from :mod:`faceinsight.crops`.
        :param crop48: its emotion input.
        """
        ag = self.predict_age_gender(crop128)
        return Prediction(ag.age, ag.age_range, ag.female_probability, self.predict_emotion(crop48))


_models: FaceModels | None = None
_models_lock = threading.Lock()


def get_models(models_dir: Path | None = None) -> FaceModels:
    """The process-wide models, loaded on first use (``FACEINSIGHT_MODELS`` overrides the folder).

    :param models_dir: load from this folder instead; the first call decides.
    :raises ModelError: a model file is missing or corrupt.
    """
    global _models
    if _models is None:
        with _models_lock:
            if _models is None:
                _models = FaceModels(models_folder(models_dir))
    return _models


def reset_models() -> None:
    """Forget the loaded models (tests, or after replacing the files)."""
    global _models
    with _models_lock:
        _models = None
