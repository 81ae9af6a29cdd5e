"""face-api.js's face recognition net as a served .tflite: 128 numbers that tell people apart.

    python -m faceinsight.training.face_embedding [--models models]

The net (``FaceRecognitionNet``: a 29-layer ResNet that dlib's author trained for face
recognition, ported to TensorFlow.js by face-api.js) comes as weights in npm's
``@vladmandic/face-api`` package, pinned with the emotion teacher's install
(:func:`faceinsight.training.teachers.faceapi.install`; nothing is fetched at run time). Its
graph is written here once, as face-api.js's ``FaceRecognitionNet.ts`` computes it, and converted
to a .tflite with int8 weights, chunked into ``models/`` with its source, checksums and
licence in the manifest (``face_embedding``). Only the video people joiner reads it
(:mod:`faceinsight.video.people`); it never sees a photo's answer.

``--check`` compares the .tflite with face-api.js itself in Node on the same inputs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from faceinsight.models import EMBEDDING_SIDE as SIDE
from faceinsight.models import EMBEDDING_WIDTH as WIDTH
from faceinsight.models import chunked_entry, read_manifest, save_manifest, sha256_bytes
from faceinsight.training.convert import DEFAULT_CHUNK_BYTES
from faceinsight.training.teachers.faceapi import HERE, install

PACKAGE = "@vladmandic/face-api"
WEIGHTS = "face_recognition_model.bin"
WEIGHTS_MANIFEST = "face_recognition_model-weights_manifest.json"
FILE_NAME = "face_embedding.tflite"
MEAN_RGB = (122.782, 117.001, 104.298)  # subtracted, then divided by 255, as face-api does
# Blocks after the first convolution: (name, down-sampling), in FaceRecognitionNet.ts's order.
BLOCKS = (("conv32_1", False), ("conv32_2", False), ("conv32_3", False),
          ("conv64_down", True), ("conv64_1", False), ("conv64_2", False), ("conv64_3", False),
          ("conv128_down", True), ("conv128_1", False), ("conv128_2", False),
          ("conv256_down", True), ("conv256_1", False), ("conv256_2", False),
          ("conv256_down_out", True))
TOLERANCE = 0.01  # largest difference from face-api.js's descriptor allowed (values ~0.1)


def read_weights(model_folder: Path) -> dict[str, np.ndarray]:
    """The net's tensors by name, dequantised as tfjs loads them (``value * scale + min``).

    :param model_folder: the package's ``model/`` folder.
    """
    groups = json.loads((model_folder / WEIGHTS_MANIFEST).read_text())
    weights = {}
    for group in groups:
        data = b"".join((model_folder / name).read_bytes() for name in group["paths"])
        offset = 0
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"], dtype=np.int64))
            quantised = spec.get("quantization")
            dtype = np.dtype(quantised["dtype"] if quantised else spec["dtype"])
            values = np.frombuffer(data, dtype, count, offset).astype(np.float32)
            offset += count * dtype.itemsize
            if quantised:
                values = values * np.float32(quantised["scale"]) + np.float32(quantised["min"])
            weights[spec["name"]] = values.reshape(spec["shape"])
    return weights


def descriptor_function(weights: dict[str, np.ndarray]):
    """FaceRecognitionNet as a TensorFlow function: (1, 150, 150, 3) RGB 0-255 -> (1, 128)."""
    import tensorflow as tf

    def conv(x, name: str, stride: int, relu: bool):
        padding = "VALID" if stride == 2 else "SAME"
        out = tf.nn.conv2d(x, weights[f"{name}/conv/filters"], stride, padding)
        out = (out + weights[f"{name}/conv/bias"]) * weights[f"{name}/scale/weights"]
        out = out + weights[f"{name}/scale/biases"]
        return tf.nn.relu(out) if relu else out

    def block(x, name: str, down: bool):
        out = conv(conv(x, f"{name}/conv1", 2 if down else 1, True), f"{name}/conv2", 1, False)
        if not down:
            return tf.nn.relu(out + x)
        pooled = tf.nn.avg_pool2d(x, 2, 2, "VALID")
        if pooled.shape[1] != out.shape[1]:  # residualLayer.ts pads the convolved side with zeros
            out = tf.pad(out, [[0, 0], [0, pooled.shape[1] - out.shape[1]],
                               [0, pooled.shape[2] - out.shape[2]], [0, 0]])
        if pooled.shape[3] != out.shape[3]:  # ... and the pooled channels
            pooled = tf.pad(pooled, [[0, 0], [0, 0], [0, 0], [0, out.shape[3] - pooled.shape[3]]])
        return tf.nn.relu(pooled + out)

    @tf.function(input_signature=[tf.TensorSpec([1, SIDE, SIDE, 3], tf.float32)])
    def describe(rgb):
        out = conv((rgb - np.array(MEAN_RGB, np.float32)) / 255.0, "conv32_down", 2, True)
        out = tf.nn.max_pool2d(out, 3, 2, "VALID")
        for name, down in BLOCKS:
            out = block(out, name, down)
        return tf.matmul(tf.reduce_mean(out, axis=[1, 2]), weights["fc"])

    return describe


def to_tflite(describe) -> bytes:
    """The function as .tflite bytes with int8 weights (dynamic-range quantisation: float
    input, output and activations; the packaged weights are 8-bit already)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([describe.get_concrete_function()], describe)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def check_inputs(count: int = 4, seed: int = 0) -> np.ndarray:
    """Inputs to compare with face-api.js on: the astronaut's face and seeded smooth noise."""
    import cv2
    from skimage import data

    rng = np.random.default_rng(seed)
    inputs = [cv2.resize(data.astronaut()[30:230, 140:320], (SIDE, SIDE), interpolation=cv2.INTER_AREA)]
    for _ in range(count - 1):
        small = rng.integers(0, 256, (10, 10, 3)).astype(np.uint8)
        inputs.append(cv2.resize(small, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC))
    return np.stack(inputs)


def reference_descriptors(inputs: np.ndarray, modules: Path) -> np.ndarray:
    """face-api.js's own descriptors for (N, 150, 150, 3) uint8 RGB inputs (Node, tfjs wasm)."""
    with tempfile.TemporaryDirectory() as work:
        inputs_file, out_file = Path(work) / "inputs.u8", Path(work) / "out.f32"
        np.ascontiguousarray(inputs, np.uint8).tofile(inputs_file)
        subprocess.run(["node", str(HERE / "faceapi_descriptors.mjs"), str(modules), str(inputs_file),
                        str(len(inputs)), str(out_file)], check=True)
        return np.fromfile(out_file, np.float32).reshape(len(inputs), WIDTH)


def tflite_descriptors(content: bytes, inputs: np.ndarray) -> np.ndarray:
    """The .tflite's descriptors for (N, 150, 150, 3) uint8 RGB inputs."""
    from faceinsight.litert import TFLiteModel

    model = TFLiteModel(content, "face_embedding", outputs=[(1, WIDTH)])
    return np.stack([model.run(image.astype(np.float32))[0].reshape(-1) for image in inputs])


def manifest_entry(content: bytes, modules: Path, models_dir: Path, difference: float | None) -> dict:
    """The manifest's ``face_embedding`` entry; writes the chunks into ``models_dir``."""
    package = json.loads((modules / PACKAGE / "package.json").read_text())
    weights = (modules / PACKAGE / "model" / WEIGHTS).read_bytes()
    return {
        **chunked_entry(content, models_dir, FILE_NAME, DEFAULT_CHUNK_BYTES),
        "input_shape": [1, SIDE, SIDE, 3],
        "input": f"{SIDE}x{SIDE}x3 float32 RGB 0-255, a square around the face (faceinsight.video.people)",
        "outputs": {"descriptor": f"{WIDTH} numbers; two faces of one person lie close (Euclidean)"},
        "quantization": "int8 weights (dynamic range)",
        "max_difference_from_reference": difference,
        "source": {"registry": "npm", "package": PACKAGE, "version": package["version"],
                   "path_in_package": f"model/{WEIGHTS}", "weights_sha256": sha256_bytes(weights)},
        "licence": "MIT (face-api.js, as packaged by @vladmandic/face-api); the weights are "
                   "dlib's face recognition ResNet, which its author, Davis King, released into "
                   "the public domain (dlib-models' README); trained on FaceScrub, VGG Face and "
                   "images from the web",
        "used_for": "joining a video's face tracks into people; never a photo's answer",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--check", action="store_true", help="compare with face-api.js in Node")
    args = parser.parse_args(argv)
    modules = install()
    content = to_tflite(descriptor_function(read_weights(modules / PACKAGE / "model")))
    difference = None
    if args.check:
        inputs = check_inputs()
        difference = float(np.abs(reference_descriptors(inputs, modules)
                                  - tflite_descriptors(content, inputs)).max())
        print(f"largest difference from face-api.js: {difference:.5f}")
        if difference > TOLERANCE:
            raise SystemExit(f"the .tflite differs from face-api.js by {difference:.4f} (> {TOLERANCE})")
    manifest = read_manifest(args.models)
    entry = manifest_entry(content, modules, args.models, difference)
    manifest.setdefault("models", {})["face_embedding"] = entry
    save_manifest(args.models, manifest)
    print(f"{FILE_NAME}: {len(content) / 1e6:.1f} MB in {args.models}")


if __name__ == "__main__":
    main()
