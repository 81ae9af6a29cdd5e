"""Shuffled, augmented batches for Keras from in-memory uint8 crops."""

from __future__ import annotations

import math

import keras
import numpy as np

from faceinsight.training.common import augment_batch


class AugmentedBatches(keras.utils.PyDataset):
    """Yields ``(x, y[, sample_weight])`` batches; reshuffles each epoch with a seeded generator.

    :param images: (N, S, S) uint8 crops.
    :param targets: an array, or a dict of arrays for a multi-output model.
    :param batch_size: crops per batch.
    :param seed: seeds the shuffling and augmentation.
    :param shift: largest random shift in pixels (0 with ``augment=False``).
    :param sample_weight: optional per-crop weights.
    :param augment: False for evaluation batches in order.
    :param extra: optional ``rotate``, ``zoom`` and ``erase`` for :func:`augment_batch`.
    """

    def __init__(self, images, targets, batch_size: int, seed: int, shift: int,
                 sample_weight: np.ndarray | None = None, augment: bool = True,
                 **extra: float):
        super().__init__()
        self.images, self.targets, self.batch_size = images, targets, batch_size
        self.shift, self.sample_weight, self.augment = shift, sample_weight, augment
        self.extra = extra
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(images))
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def on_epoch_end(self) -> None:
        if self.augment:
            self.rng.shuffle(self.order)

    def _take(self, values, index):
        if isinstance(values, dict):
            return {k: v[index] for k, v in values.items()}
        return values[index]

    def __getitem__(self, batch: int):
        index = self.order[batch * self.batch_size:(batch + 1) * self.batch_size]
        images = self.images[index]
        if self.augment:
            x = augment_batch(images, self.rng, self.shift, **self.extra)
        else:
            x = images.astype(np.float32)[..., None]
        y = self._take(self.targets, index)
        if self.sample_weight is None:
            return x, y
        return x, y, self.sample_weight[index]
