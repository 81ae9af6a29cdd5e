"""The age loss: a distribution over ages, scored against a Gaussian around the true age."""

from __future__ import annotations

import keras
from keras import ops

from faceinsight.labels import MAX_AGE


def age_targets(age, sigma_base: float = 1.5, sigma_slope: float = 0.05):
    """Soft labels: a Gaussian over 0..MAX_AGE centred on each age, wider for older faces.

    :param age: (N,) or (N, 1) true ages.
    """
    age = ops.reshape(ops.cast(age, "float32"), (-1, 1))
    grid = ops.reshape(ops.arange(MAX_AGE + 1, dtype="float32"), (1, -1))
    sigma = sigma_base + sigma_slope * age
    weights = ops.exp(-0.5 * ops.square((grid - age) / sigma))
    return weights / ops.sum(weights, axis=1, keepdims=True)


def expected_age(distribution):
    """The mean of a predicted age distribution, (N, MAX_AGE + 1) -> (N,)."""
    grid = ops.arange(MAX_AGE + 1, dtype="float32")
    return ops.sum(distribution * grid, axis=1)


@keras.saving.register_keras_serializable(package="faceinsight")
def age_distribution_loss(y_true, y_pred):
    """Cross-entropy to the soft labels plus a small L1 term on the expected age (DLDL-v2)."""
    y_pred = ops.clip(y_pred, 1e-7, 1.0)
    cross_entropy = -ops.sum(age_targets(y_true) * ops.log(y_pred), axis=1)
    age = ops.reshape(ops.cast(y_true, "float32"), (-1,))
    return cross_entropy + 0.05 * ops.abs(expected_age(y_pred) - ops.minimum(age, MAX_AGE))


@keras.saving.register_keras_serializable(package="faceinsight")
class ExpectedAgeMAE(keras.metrics.Metric):
    """Mean absolute error of the expected age, in years."""

    def __init__(self, name: str = "mae", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        error = ops.abs(expected_age(y_pred) - ops.reshape(ops.cast(y_true, "float32"), (-1,)))
        self.total.assign_add(ops.sum(error))
        self.count.assign_add(ops.cast(ops.shape(error)[0], "float32"))

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)
