"""Stochastic weight averaging (``--average-from``): the mean of later epochs' weights, with the
batch-normalisation statistics measured again for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("tensorflow")


def dense_with_norm():
    """Two inputs -> batch normalisation -> one dense unit: weights simple to set and read."""
    import keras

    inputs = keras.Input((2,))
    x = keras.layers.BatchNormalization(name="norm")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, name="dense")(x))


def batches_of(means: list[float], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """A batch of 64 two-feature rows per mean: rows spread around that mean."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(m, 1.0 + i, (64, 2)).astype(np.float32), np.zeros((64, 1), np.float32))
            for i, m in enumerate(means)]


def test_batch_statistics_are_the_plain_average_over_the_batches() -> None:
    from faceinsight.training.callbacks import measure_batch_statistics

    model = dense_with_norm()
    norm = model.get_layer("norm")
    batches = batches_of([0.0, 10.0, -4.0, 30.0])
    measure_batch_statistics(model, batches, count=3)  # the fourth batch is left out
    mean, variance = (np.asarray(v) for v in (norm.moving_mean, norm.moving_variance))
    np.testing.assert_allclose(mean, np.mean([b[0].mean(axis=0) for b in batches[:3]], axis=0),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(variance, np.mean([b[0].var(axis=0) for b in batches[:3]], axis=0),
                               rtol=1e-3)
    assert norm.momentum == pytest.approx(0.99)  # Keras's default, given back


def test_the_average_starts_at_its_epoch_and_the_run_keeps_its_last_weights(tmp_path: Path) -> None:
    import keras

    from faceinsight.training.callbacks import WeightAverage

    model = dense_with_norm()
    average = WeightAverage(tmp_path, first_epoch=2, batches=batches_of([5.0, 5.0]), bn_batches=2)
    average.set_model(model)
    dense = model.get_layer("dense")
    for epoch, value in enumerate([100.0, 2.0, 4.0, 9.0]):  # epoch 1 (100) is left out
        dense.set_weights([np.full((2, 1), value, np.float32), np.full(1, value, np.float32)])
        average.on_epoch_end(epoch)
    average.on_train_end()

    averaged = keras.saving.load_model(tmp_path / "averaged.keras", compile=False)
    kernel, bias = averaged.get_layer("dense").get_weights()
    np.testing.assert_allclose(kernel, 5.0)  # (2 + 4 + 9) / 3
    np.testing.assert_allclose(bias, 5.0)
    assert np.asarray(averaged.get_layer("norm").moving_mean) == pytest.approx([5.0, 5.0], abs=0.3)
    np.testing.assert_allclose(dense.get_weights()[0], 9.0)  # the model is its last epoch again
    assert np.asarray(model.get_layer("norm").moving_mean) == pytest.approx([0.0, 0.0])


def test_no_epoch_reached_saves_nothing(tmp_path: Path) -> None:
    from faceinsight.training.callbacks import WeightAverage

    average = WeightAverage(tmp_path, first_epoch=5, batches=batches_of([0.0]))
    average.set_model(dense_with_norm())
    average.on_epoch_end(0)
    average.on_train_end()
    assert not (tmp_path / "averaged.keras").exists()
