"""From Keras to served files: the tiny run converted to chunked .tflite files and served,
the flip-averaged served form, the shipped architectures' shapes, and the emotion network
recovered from its .tflite. All need TensorFlow (requirements-train.txt).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from face_helpers import assert_face_contract
from training_fakes import TinyRun

pytestmark = pytest.mark.usefixtures("tensorflow")


def test_convert_chunks_and_load(tiny_run: TinyRun, astronaut_crops) -> None:
    import convert_models
    from faceinsight.analyze import read_face
    from faceinsight.litert import ModelError
    from faceinsight.models import MODELS_DIR, FaceModels, read_manifest

    models_dir = tiny_run.root / "models"
    chunk_mb = 0.02  # the tiny run's networks: two chunks or more each
    status = convert_models.main([
        "--age-gender", str(tiny_run.age_gender_out / "best.keras"),
        "--emotion", str(tiny_run.emotion_out / "best.keras"),
        "--models", str(models_dir), "--chunk-mb", str(chunk_mb),
        "--metrics", str(tiny_run.reports / "metrics.json"),
    ])
    assert status == 0
    manifest = read_manifest(models_dir)
    expected_validation = {"age_gender": tiny_run.age_gender["summary"],
                           "emotion": tiny_run.emotion["summary"]}
    for kind in ("age_gender", "emotion"):
        entry = manifest["models"][kind]
        assert len(entry["chunks"]) >= 2
        assert all(c["size"] <= chunk_mb * 2**20 for c in entry["chunks"])
        assert entry["max_difference_from_keras"] <= 0.02
        assert entry["validation"] == expected_validation[kind]
        assert not (models_dir / entry["file"]).exists()  # shipped as chunks only
    with pytest.raises(ModelError, match="lists no face_embedding model"):
        FaceModels(models_dir)  # a models folder holds every model the product reads
    shipped = read_manifest(MODELS_DIR)
    manifest["models"]["face_embedding"] = shipped["models"]["face_embedding"]
    for chunk in shipped["models"]["face_embedding"]["chunks"]:
        shutil.copy(MODELS_DIR / chunk["file"], models_dir / chunk["file"])
    (models_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="no crop geometry for the 'haar' detector"):
        FaceModels(models_dir, detector="haar")  # never served with a framing it was not calibrated for
    for kind in ("age_gender", "emotion"):
        manifest["models"][kind]["framing"] = shipped["models"][kind]["framing"]
    (models_dir / "manifest.json").write_text(json.dumps(manifest))
    loaded = FaceModels(models_dir, detector="haar")
    assert_face_contract(read_face(astronaut_crops, loaded).dump())


def test_flip_averaged_model_averages_each_crop_with_its_own_mirror() -> None:
    import keras

    from faceinsight.training.architectures import flip_averaged, is_mirrored

    inputs = keras.Input((8, 8, 1))
    # A column-sensitive model: a dense layer over the flattened image.
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    crops = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    served = flip_averaged(model)
    expected = (model.predict(crops, verbose=0) + model.predict(crops[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(served.predict(crops, verbose=0), expected, rtol=1e-5, atol=1e-4)
    assert is_mirrored(served) and not is_mirrored(model)
    assert not np.allclose(model.predict(crops, verbose=0), expected, atol=1e-2)  # the flip matters


def test_flip_averaged_model_mirrors_after_its_scaling_and_pooling() -> None:
    """Scaling and 2x2 averaging run once, before the mirror is made (a cheaper batch of two),
    and the answers are still the mean of the crop's and its mirror's."""
    import keras

    from faceinsight.training.architectures import flip_averaged

    inputs = keras.Input((8, 8, 1))
    pooled = keras.layers.AveragePooling2D(2)(keras.layers.Rescaling(1 / 255.0)(inputs))
    flat = keras.layers.Flatten()(pooled)
    model = keras.Model(inputs, {"a": keras.layers.Dense(3)(flat), "b": keras.layers.Dense(1)(flat)})
    crops = np.random.default_rng(1).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    served = flip_averaged(model)
    names = [layer.name for layer in served.layers]
    assert names.index("with_mirror") > max(i for i, layer in enumerate(served.layers)
                                            if isinstance(layer, keras.layers.AveragePooling2D))
    got, plain, mirrored = (m.predict(c, verbose=0) for m, c in
                            ((served, crops), (model, crops), (model, crops[:, :, ::-1])))
    for key in ("a", "b"):
        np.testing.assert_allclose(got[key], (plain[key] + mirrored[key]) / 2, rtol=1e-5, atol=1e-5)
    assert not np.allclose(plain["a"], mirrored["a"], atol=1e-3)  # the flip matters


def test_the_shipped_architectures_take_and_give_what_serving_expects() -> None:
    """The networks training builds (the tiny run uses narrower ones): model inputs at the crop
    sizes, one convolution layer per entry of ``BLOCKS``, and outputs that are distributions."""
    from keras import layers

    from faceinsight.crops import AGE_GENDER_SIZE, EMOTION_SIZE
    from faceinsight.labels import EMOTIONS, MAX_AGE
    from faceinsight.training.architectures import BLOCKS, age_gender_model, emotion_model

    widths = [width for convs, width in BLOCKS for _ in range(convs)]
    for model, size in ((emotion_model(), EMOTION_SIZE), (age_gender_model(), AGE_GENDER_SIZE)):
        assert [layer.filters for layer in model.layers if isinstance(layer, layers.Conv2D)] == widths
        assert tuple(model.input_shape) == (None, size, size, 1)
    crops = np.random.default_rng(0).uniform(0, 255, (2, AGE_GENDER_SIZE, AGE_GENDER_SIZE, 1))
    answer = age_gender_model()(crops.astype(np.float32))
    age, gender = np.asarray(answer["age"]), np.asarray(answer["gender"])
    assert age.shape == (2, MAX_AGE + 1) and np.allclose(age.sum(axis=1), 1, atol=1e-5)
    assert gender.shape == (2, 1) and ((gender >= 0) & (gender <= 1)).all()
    scores = np.asarray(emotion_model()(crops[:, :EMOTION_SIZE, :EMOTION_SIZE].astype(np.float32)))
    assert scores.shape == (2, len(EMOTIONS)) and np.allclose(scores.sum(axis=1), 1, atol=1e-5)


@pytest.fixture(scope="module")
def emotion_tflites(tensorflow) -> tuple[bytes, bytes, np.ndarray]:
    """The emotion network (untrained) in its served form as a float16 .tflite and as an int8
    one calibrated on ``crops``, and those crops: converted once for the tests below."""
    from faceinsight.training.architectures import emotion_model, served_form
    from faceinsight.training.convert import keras_to_tflite

    served = served_form(emotion_model())
    crops = np.random.default_rng(0).integers(0, 256, (16, 48, 48), dtype=np.uint8)
    return keras_to_tflite(served), keras_to_tflite(served, calibration=crops), crops


def test_recover_reads_a_float_emotion_tflite_and_refuses_an_int8_one(emotion_tflites) -> None:
    """The emotion network comes back from its float16 .tflite with both views in one batch
    (the served form since 1.2.0); an int8 file holds rounded weights and is refused."""
    from faceinsight.training.recover import TOLERANCE, recover, tflite_layers

    floats, int8, crops = emotion_tflites
    model, worst = recover(floats, crops[:4])
    assert worst <= TOLERANCE
    assert [layer.name for layer in model.layers if layer.get_weights()][-1] == "emotion"
    with pytest.raises(ValueError, match="int8"):
        tflite_layers(int8)


def test_recover_dequantises_an_int8_emotion_tflite_when_asked(emotion_tflites) -> None:
    """With ``dequantise`` the int8 weights come back as ``(q - zero point) * scale`` per output
    channel: each layer within one quantisation step of the float weights, the rebuilt network's
    outputs within the int8 tolerance of the int8 file."""
    from faceinsight.training.recover import INT8_TOLERANCE, recover, tflite_layers

    floats, int8, crops = emotion_tflites
    for (_, kernel, _), (_, rounded, _) in zip(tflite_layers(floats), tflite_layers(int8, dequantise=True),
                                               strict=True):
        step = np.abs(kernel).reshape(len(kernel), -1).max(axis=1) / 127
        assert (np.abs(kernel - rounded).reshape(len(kernel), -1).max(axis=1) <= step * 0.51 + 1e-3).all()
    _, worst = recover(int8, crops[:4], dequantise=True)
    assert worst <= INT8_TOLERANCE


def test_recover_rebuilds_the_age_gender_network_from_its_tflite(tensorflow) -> None:
    """The age/gender network (scaling and 2x2 averaging before its mirror image, two heads)
    comes back from its float16 .tflite: both heads within the float tolerance, named as
    training names them, so ``train_age_gender --init-weights`` can continue it."""
    from faceinsight.training.architectures import age_gender_model, served_form
    from faceinsight.training.convert import keras_to_tflite
    from faceinsight.training.recover import TOLERANCE, recover

    crops = np.random.default_rng(1).integers(0, 256, (3, 128, 128), dtype=np.uint8)
    model, worst = recover(keras_to_tflite(served_form(age_gender_model())), crops, kind="age_gender")
    assert worst <= TOLERANCE
    outputs = model.predict(crops[:1, ..., None].astype(np.float32), verbose=0)
    assert {key: value.shape for key, value in outputs.items()} == {"age": (1, 101), "gender": (1, 1)}
    assert [layer.name for layer in model.layers if layer.get_weights()][-2:] == ["age", "gender"]
