"""Recover a Keras model from a shipped ``.tflite``, to convert it again (e.g. to int8) or train on.

    mkdir -p build/release-1.0 && git archive 0e5160e models | tar -x -C build/release-1.0
    python -m faceinsight.training.recover --models build/release-1.0/models \
        --out build/emotion_recovered/best.keras
    python -m faceinsight.training.recover --model age_gender --models models --dequantise \
        --out build/ag_recovered/recovered.keras

The emotion model's training checkpoint was not kept (release 1.0). Its ``.tflite`` holds every
weight: the converter folded the input scaling into the first convolution and each batch
normalisation into the convolution or dense layer before it, and fused the ReLUs. This rebuilds that inference
network in Keras (convolutions and dense layers with biases, no batch normalisation), loads the
weights, and checks its outputs against the ``.tflite`` on sample crops. It needs a float
``.tflite``: an int8 one (release 1.1 on) holds rounded weights, and is refused unless
``--dequantise``. ``--model age_gender`` does the same for the age/gender network, whose
checkpoints were not kept either (its scaling and 2x2 averaging stay layers of their own).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from faceinsight.crops import AGE_GENDER_SIZE, EMOTION_SIZE
from faceinsight.labels import EMOTIONS, MAX_AGE

TOLERANCE = 0.01  # float16 weights read back exactly; only the arithmetic order differs
# An int8 .tflite rounds its activations too (the converter allows 0.15 against Keras): the float
# network rebuilt from its weights agrees with it only that closely.
INT8_TOLERANCE = 0.15


def tflite_layers(content: bytes, dequantise: bool = False) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(op, kernel, bias)`` of each CONV_2D and FULLY_CONNECTED, once each, in execution order,
    as float32 in the ``.tflite`` layouts (O,H,W,I and O,I).

    The mirror image runs through the same weights, either as a second pass (release 1.0) or in
    the same batch (since 1.2.0); a layer whose weights were already read is that second view.

    :param dequantise: read an int8 model's integer weights back to float (per-channel scale
        and zero point from the tensor's quantisation parameters).
    :raises ValueError: the weights are integers (an int8 model) and ``dequantise`` is False.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    ops = interpreter._get_ops_details()
    constant_of = {op["outputs"][0]: op["inputs"][0] for op in ops if op["op_name"] == "DEQUANTIZE"}
    details = {t["index"]: t for t in interpreter.get_tensor_details()}

    def weights(index: int) -> np.ndarray:
        index = constant_of.get(index, index)
        values = interpreter.get_tensor(index)
        if np.issubdtype(values.dtype, np.floating):
            return values.astype(np.float32)
        if not dequantise:
            raise ValueError(f"the .tflite holds {values.dtype} weights (an int8 model); recover "
                             "from a float16 one, such as release 1.0's, or pass --dequantise")
        return dequantised(values, details[index]["quantization_parameters"])

    layers, read = [], set()
    for op in ops:
        if op["op_name"] not in ("CONV_2D", "FULLY_CONNECTED"):
            continue
        kernel = constant_of.get(op["inputs"][1], op["inputs"][1])
        if kernel not in read:
            read.add(kernel)
            values = weights(op["inputs"][1])
            bias = op["inputs"][2]  # -1: the converter left out an all-zero bias
            layers.append((op["op_name"], values,
                           weights(bias) if bias >= 0 else np.zeros(len(values), np.float32)))
    return layers


def dequantised(values: np.ndarray, quantisation: dict) -> np.ndarray:
    """Integer weights back to float32: ``(q - zero_point) * scale``, per channel along the
    tensor's quantised dimension (int8 kernels: the output channel; int32 biases: their one axis).

    :param quantisation: the tensor's ``quantization_parameters`` from LiteRT.
    """
    scales = np.asarray(quantisation["scales"], np.float64)
    zero_points = np.asarray(quantisation["zero_points"], np.float64)
    if scales.size == 0:
        raise ValueError("an integer weight tensor without quantisation parameters")
    shape = [1] * values.ndim
    if scales.size > 1:
        shape[quantisation["quantized_dimension"]] = scales.size
    values = (values.astype(np.float64) - zero_points.reshape(shape)) * scales.reshape(shape)
    return values.astype(np.float32)


def inference_model(layers: list[tuple[str, np.ndarray, np.ndarray]], kind: str = "emotion"):
    """The folded network in Keras, with ``layers``' weights: 48 px crop -> 7 scores
    (``emotion``), or 128 px crop -> {"age", "gender"} (``age_gender``)."""
    import keras
    from keras import layers as kl

    from faceinsight.training.architectures import BLOCKS

    side = EMOTION_SIZE if kind == "emotion" else AGE_GENDER_SIZE
    inputs = keras.Input((side, side, 1), name=f"face{side}")
    x = inputs
    if kind == "age_gender":  # the served model's MUL and AVERAGE_POOL_2D, as training builds them
        x = kl.AveragePooling2D(2, name="half")(kl.Rescaling(1 / 255.0, name="scale")(x))
    for block, (convs, width) in enumerate(BLOCKS):
        for i in range(convs):
            x = kl.Conv2D(width, 3, padding="same", activation="relu", name=f"block{block}_conv{i}")(x)
        x = kl.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = kl.GlobalAveragePooling2D(name="gap")(x)
    x = kl.Dense(256, activation="relu", name="fc")(x)
    if kind == "emotion":
        outputs = kl.Dense(len(EMOTIONS), activation="softmax", name="emotion")(x)
    else:
        outputs = {"age": kl.Dense(MAX_AGE + 1, activation="softmax", name="age")(x),
                   "gender": kl.Dense(1, activation="sigmoid", name="gender")(x)}
    model = keras.Model(inputs, outputs, name=kind)
    weighted = [layer for layer in model.layers if layer.get_weights()]
    if len(weighted) != len(layers):
        raise ValueError(f"expected {len(weighted)} weighted layers in the .tflite, found {len(layers)}")
    for layer, (op, kernel, bias) in zip(weighted, layers, strict=True):
        kernel = kernel.transpose(1, 2, 3, 0) if op == "CONV_2D" else kernel.T
        layer.set_weights([kernel, bias])
    return model


def flat_outputs(outputs) -> np.ndarray:
    """A model's outputs as one row per input: an array, or a dict's (``age``, ``gender``) or a
    ``.tflite``'s list told apart by width, side by side."""
    if isinstance(outputs, np.ndarray):
        return outputs
    by_width = {value.shape[-1]: np.asarray(value) for value in
                (outputs.values() if isinstance(outputs, dict) else outputs)}
    return np.concatenate([by_width[width] for width in sorted(by_width)], axis=-1)


def recover(content: bytes, samples: np.ndarray, dequantise: bool = False, kind: str = "emotion"):
    """The Keras model of a shipped ``.tflite``, checked against it on ``samples``.

    :param dequantise: the ``.tflite`` is int8 (see :func:`tflite_layers`); the check then
        allows :data:`INT8_TOLERANCE`.
    :param kind: ``emotion`` or ``age_gender``.
    :raises RuntimeError: the outputs differ by more than the tolerance.
    """
    from faceinsight.litert import TFLiteModel
    from faceinsight.training.architectures import flip_averaged

    tolerance = INT8_TOLERANCE if dequantise else TOLERANCE
    model = inference_model(tflite_layers(content, dequantise), kind)
    served, shipped = flip_averaged(model), TFLiteModel(content, kind)
    worst = max(float(np.abs(flat_outputs(served.predict(crop.astype(np.float32)[None, ..., None], verbose=0))
                             - flat_outputs(shipped.run(crop))).max()) for crop in samples)
    if worst > tolerance:
        raise RuntimeError(f"the recovered model differs from the .tflite by {worst:.4f}")
    return model, worst


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="emotion", choices=("emotion", "age_gender"))
    parser.add_argument("--models", type=Path, default=Path("models"),
                        help="a models folder with the model's float16 .tflite (release 1.0's)")
    parser.add_argument("--out", type=Path, default=Path("build/emotion_recovered/best.keras"))
    parser.add_argument("--dequantise", action="store_true",
                        help="accept an int8 .tflite: read its integer weights back to float")
    args = parser.parse_args(argv)
    from faceinsight.models import assemble_model, read_manifest
    from faceinsight.training.convert import sample_crops

    content = assemble_model(args.models, read_manifest(args.models)["models"][args.model])
    side = EMOTION_SIZE if args.model == "emotion" else AGE_GENDER_SIZE
    model, worst = recover(content, sample_crops(side), args.dequantise, args.model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"recovered {args.out} (max |keras - tflite| = {worst:.2e})")


if __name__ == "__main__":
    main()
