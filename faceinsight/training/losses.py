"""The age loss: a distribution over ages, scored against a Gaussian around the true age, with
a teacher's distribution mixed in where training has one (:func:`taught_targets`)."""

from __future__ import annotations

import keras
import numpy as np
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


def taught_targets(age: np.ndarray, female: np.ndarray, teacher: dict, weight: float) -> dict:
    """Training targets with a teacher's readings mixed in at ``weight``: ``age`` as (N, 1 +
    MAX_AGE + 1) rows of the true age then ``weight`` x the teacher's age distribution (the loss
    mixes it with its Gaussian: :func:`age_distribution_loss`), ``gender`` as ``(1 - weight) x
    label + weight x`` the teacher's P(female). A face the teacher did not read keeps its label.

    :param age: (N,) true ages; ``female``: (N,) 0/1 labels.
    :param teacher: ``age_distribution`` (N, MAX_AGE + 1), ``female`` (N,) and ``taught`` (N,)
        bool, as :func:`faceinsight.training.teachers.soft_labels.teacher_age_gender` gives them.
    :param weight: the teacher's share, 0 to 1.
    :returns: ``{"age": (N, MAX_AGE + 2), "gender": (N, 1)}`` float32.
    """
    share = np.where(teacher["taught"], weight, 0.0).astype(np.float32)[:, None]
    distribution = teacher["age_distribution"] / np.maximum(
        teacher["age_distribution"].sum(axis=1, keepdims=True), 1e-12)
    gender = (1 - share[:, 0]) * female + share[:, 0] * teacher["female"]
    return {"age": np.concatenate([np.asarray(age, np.float32)[:, None], share * distribution], axis=1),
            "gender": gender.astype(np.float32)[:, None]}


def true_age(y_true):
    """The true age of each row of an age target: the target itself ((N,) or (N, 1)), or the first
    column of a taught one (:func:`taught_targets`)."""
    rows = ops.shape(y_true)[0]
    return ops.reshape(ops.cast(y_true, "float32"), (rows, -1))[:, 0]


@keras.saving.register_keras_serializable(package="faceinsight")
def age_distribution_loss(y_true, y_pred):
    """Cross-entropy to the soft labels plus a small L1 term on the expected age (DLDL-v2).

    A taught target (:func:`taught_targets`) adds the teacher's share of a distribution to the
    Gaussian's ``1 - share``, and the L1 term aims at that mixture's mean likewise.
    """
    y_pred = ops.clip(y_pred, 1e-7, 1.0)
    age = true_age(y_true)
    target, aim = age_targets(age), ops.minimum(age, MAX_AGE)
    if len(y_true.shape) == 2 and y_true.shape[1] == MAX_AGE + 2:  # taught: known when traced
        taught = ops.cast(y_true[:, 1:], "float32")
        share = ops.sum(taught, axis=1)
        target = (1 - share[:, None]) * target + taught
        aim = (1 - share) * aim + expected_age(taught)
    cross_entropy = -ops.sum(target * ops.log(y_pred), axis=1)
    return cross_entropy + 0.05 * ops.abs(expected_age(y_pred) - aim)


@keras.saving.register_keras_serializable(package="faceinsight")
class ExpectedAgeMAE(keras.metrics.Metric):
    """Mean absolute error of the expected age, in years."""

    def __init__(self, name: str = "mae", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        error = ops.abs(expected_age(y_pred) - true_age(y_true))
        self.total.assign_add(ops.sum(error))
        self.count.assign_add(ops.cast(ops.shape(error)[0], "float32"))

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)


@keras.saving.register_keras_serializable(package="faceinsight")
def rounded_binary_accuracy(y_true, y_pred):
    """Keras's ``binary_accuracy`` (P > 0.5 against the label) with soft labels rounded first:
    a target mixed with a teacher's P(female) (:func:`taught_targets`) still names its class."""
    said = ops.cast(y_pred > 0.5, "float32")
    return ops.mean(ops.cast(ops.equal(ops.cast(y_true >= 0.5, "float32"), said), "float32"), axis=-1)


def gender_accuracy() -> keras.metrics.Metric:
    """:func:`rounded_binary_accuracy` under Keras's name for it, so the logs and reports read as before."""
    return keras.metrics.MeanMetricWrapper(rounded_binary_accuracy, name="binary_accuracy")
