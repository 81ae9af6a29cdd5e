"""The two networks, in plain Keras 3 so they run on TensorFlow, PyTorch or JAX backends.

Both take raw 0-255 grayscale pixels (float32) and scale them inside the model, so the
served .tflite files need no preprocessing beyond the face pipeline.
"""

from __future__ import annotations

import keras
from keras import layers

from faceinsight.crops import AGE_GENDER_SIZE, EMOTION_SIZE
from faceinsight.labels import EMOTIONS, MAX_AGE


def _conv_block(x, filters: int, convs: int, dropout: float, name: str):
    for i in range(convs):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    return layers.Dropout(dropout, name=f"{name}_drop")(x) if dropout else x


def _features(x, blocks, block_dropout: float, head_dropout: float):
    """Convolution blocks (dropout growing with depth), global pooling and a 256-unit layer."""
    for i, (convs, width) in enumerate(blocks):
        x = _conv_block(x, width, convs, block_dropout * i, f"block{i}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(256, use_bias=False, name="fc")(x)
    x = layers.BatchNormalization(name="fc_bn")(x)
    x = layers.ReLU(name="fc_relu")(x)
    return layers.Dropout(head_dropout, name="fc_drop")(x)


# (convolutions, filters) per block. One convolution in the high-resolution blocks keeps
# the cost low enough to train on two CPU cores; two in the deeper ones keep the accuracy.
BLOCKS = ((1, 32), (1, 64), (2, 128), (2, 256))


def emotion_model(blocks: tuple[tuple[int, int], ...] = BLOCKS) -> keras.Model:
    """VGG-style net: 48x48x1 pixels -> 7 emotion scores summing to 1."""
    inputs = keras.Input((EMOTION_SIZE, EMOTION_SIZE, 1), name="face48")
    x = layers.Rescaling(1 / 255.0, name="scale")(inputs)
    x = _features(x, blocks, block_dropout=0.1, head_dropout=0.4)
    outputs = layers.Dense(len(EMOTIONS), activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name="emotion")


def age_gender_model(blocks: tuple[tuple[int, int], ...] = BLOCKS) -> keras.Model:
    """Multitask net: 128x128x1 pixels -> (age distribution over 0..MAX_AGE, P(female)).

    The 128 px crop is averaged down to 64 px first (the CPU budget), then VGG-style blocks.
    """
    inputs = keras.Input((AGE_GENDER_SIZE, AGE_GENDER_SIZE, 1), name="face128")
    x = layers.Rescaling(1 / 255.0, name="scale")(inputs)
    x = layers.AveragePooling2D(2, name="half")(x)
    x = _features(x, blocks, block_dropout=0.05, head_dropout=0.3)
    age = layers.Dense(MAX_AGE + 1, activation="softmax", name="age")(x)
    gender = layers.Dense(1, activation="sigmoid", name="gender")(x)
    return keras.Model(inputs, {"age": age, "gender": gender}, name="age_gender")


@keras.saving.register_keras_serializable(package="faceinsight")
class WithMirror(layers.Layer):
    """A batch of N images followed by their N mirror images (2N in all)."""

    def call(self, images):
        return keras.ops.concatenate([images, keras.ops.flip(images, axis=2)], axis=0)


@keras.saving.register_keras_serializable(package="faceinsight")
class MeanOfViews(layers.Layer):
    """Averages the outputs of :class:`WithMirror`'s two halves back to N rows."""

    def call(self, outputs):
        shape = keras.ops.shape(outputs)
        return keras.ops.mean(keras.ops.reshape(outputs, (2, -1, *shape[1:])), axis=0)


def is_mirrored(model: keras.Model) -> bool:
    """Whether ``model`` also averages over the mirror image of its input."""
    return any(isinstance(layer, WithMirror) for layer in model.layers)


def flip_averaged(model: keras.Model) -> keras.Model:
    """Wrap a trained model so it averages its outputs on the crop and its mirror image.

    Faces are left-right symmetric in meaning, so averaging the two views removes some noise
    (test-time augmentation). Both views go through the network as one batch of two, which
    LiteRT runs a little faster than two passes (int8 age/gender: 0.79 against 0.86 ms). The
    model's leading layers that a mirror image passes through unchanged in meaning (scaling,
    2x2 averaging: see :func:`_mirror_commuting_prefix`) run once, before the mirror is made, so
    the age/gender net mirrors its 64 px copy instead of the 128 px crop.
    """
    inputs = keras.Input(model.input_shape[1:], name=model.inputs[0].name)
    prefix = _mirror_commuting_prefix(model)
    x = inputs
    for layer in prefix:
        x = layer(x)
    rest = keras.Model(prefix[-1].output, model.output, name=model.name) if prefix else model
    outputs = rest(WithMirror(name="with_mirror")(x))
    if isinstance(outputs, dict):
        averaged = {k: MeanOfViews(name=k)(v) for k, v in outputs.items()}
    else:
        averaged = MeanOfViews(name=f"{model.name}_mean")(outputs)
    return keras.Model(inputs, averaged, name=f"{model.name}_flip_averaged")


def _mirror_commuting_prefix(model: keras.Model) -> list[layers.Layer]:
    """The chain of layers right after the input that commute with a left-right mirror:
    rescaling, and average pooling whose windows tile the width exactly (mirroring then
    pooling equals pooling then mirroring), up to the last pooling: a rescaling with nothing
    to save is left where the converter folds it into the first convolution. Each layer must
    feed only the next."""
    chain: list[layers.Layer] = []
    for layer in model.layers[1:]:
        if isinstance(layer, layers.Rescaling):
            pass
        elif isinstance(layer, layers.AveragePooling2D):
            width = layer.input.shape[2]
            if (layer.padding != "valid" or layer.strides != layer.pool_size or width is None
                    or width % layer.pool_size[1]):
                break
        else:
            break
        if len(layer._outbound_nodes) != 1:
            break
        chain.append(layer)
    while chain and not isinstance(chain[-1], layers.AveragePooling2D):
        chain.pop()
    return chain


def served_form(model: keras.Model) -> keras.Model:
    """The model as it ships: averaged over the crop and its mirror image (both models do it:
    it steadies the answer against small changes of framing)."""
    return model if is_mirrored(model) else flip_averaged(model)
