"""The face embedding's converter: face-api.js's weights read as tfjs stores them, its graph
written out, and the .tflite giving what the graph gives (needs TensorFlow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceinsight.training import face_embedding
from faceinsight.training.face_embedding import BLOCKS, SIDE, WIDTH

pytestmark = pytest.mark.usefixtures("tensorflow")


def test_weights_are_read_and_dequantised_as_tfjs_stores_them(tmp_path):
    quantised = np.array([0, 1, 255], np.uint8)
    plain = np.array([[1.5, -2.0]], np.float32)
    (tmp_path / "w.bin").write_bytes(quantised.tobytes() + plain.tobytes())
    manifest = [{"paths": ["w.bin"], "weights": [
        {"name": "a", "shape": [3], "dtype": "float32",
         "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
        {"name": "b", "shape": [1, 2], "dtype": "float32"}]}]
    (tmp_path / face_embedding.WEIGHTS_MANIFEST).write_text(json.dumps(manifest))
    weights = face_embedding.read_weights(tmp_path)
    np.testing.assert_allclose(weights["a"], [-1.0, -0.5, 126.5])
    np.testing.assert_array_equal(weights["b"], plain)


def random_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """Weights of FaceRecognitionNet's shapes (small, so activations stay finite)."""
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}

    def layer(name: str, kernel: int, inputs: int, outputs: int) -> None:
        shape = (kernel, kernel, inputs, outputs)
        weights[f"{name}/conv/filters"] = rng.normal(0, 0.1, shape).astype(np.float32)
        weights[f"{name}/conv/bias"] = rng.normal(0, 0.01, outputs).astype(np.float32)
        weights[f"{name}/scale/weights"] = rng.uniform(0.5, 1.5, outputs).astype(np.float32)
        weights[f"{name}/scale/biases"] = rng.normal(0, 0.01, outputs).astype(np.float32)

    layer("conv32_down", 7, 3, 32)
    channels = 32
    for name, down in BLOCKS:
        width = int(name[4:7].rstrip("_"))
        layer(f"{name}/conv1", 3, channels, width)
        layer(f"{name}/conv2", 3, width, width)
        assert down or width == channels
        channels = width
    weights["fc"] = rng.normal(0, 0.1, (channels, WIDTH)).astype(np.float32)
    return weights


def test_the_graph_runs_at_150_px_and_converts_without_changing_its_answers():
    describe = face_embedding.descriptor_function(random_weights())
    images = np.random.default_rng(1).uniform(0, 255, (2, 1, SIDE, SIDE, 3)).astype(np.float32)
    expected = [describe(image).numpy().reshape(-1) for image in images]
    assert expected[0].shape == (WIDTH,) and not np.allclose(expected[0], expected[1])
    converted = face_embedding.tflite_descriptors(face_embedding.to_tflite(describe), images[:, 0])
    for got, want in zip(converted, expected, strict=True):
        assert np.abs(got - want).max() <= 0.05 * np.abs(want).max()
