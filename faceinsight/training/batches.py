"""Shuffled, augmented batches for Keras from in-memory uint8 crops."""

from __future__ import annotations

import math

import keras
import numpy as np

from faceinsight.crops import WHOLE_BOX, crop_face
from faceinsight.training.augment import BoxJitter, augment_batch, jittered_crops


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
        self.seed, self.rng = seed, np.random.default_rng(seed)
        self.order = np.arange(len(images))
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def on_epoch_end(self) -> None:
        if self.augment:
            self.rng.shuffle(self.order)

    def start_at_epoch(self, epoch: int) -> None:
        """Draw as a resumed run's epoch ``epoch`` (0-based) on: a generator of its own."""
        if epoch:
            self.rng = np.random.default_rng((self.seed, epoch))
            self.on_epoch_end()

    def __getitem__(self, batch: int):
        index = self.order[batch * self.batch_size:(batch + 1) * self.batch_size]
        images = self.images[index]
        if self.augment:
            x = augment_batch(images, self.rng, self.shift, **self.extra)
        else:
            x = images.astype(np.float32)[..., None]
        return with_targets(x, self.targets, self.sample_weight, index)


def with_targets(x: np.ndarray, targets, sample_weight: np.ndarray | None, index: np.ndarray) -> tuple:
    """A Keras batch: ``(x, y)`` or ``(x, y, weights)``, the targets (an array or a dict of
    arrays) and weights taken at ``index``."""
    y = {k: v[index] for k, v in targets.items()} if isinstance(targets, dict) else targets[index]
    return (x, y) if sample_weight is None else (x, y, sample_weight[index])


class FramedBatches(keras.utils.PyDataset):
    """Batches of crops cut from faces in context through :func:`faceinsight.crops.crop_face`, with the
    box varied as a detector varies it (scale, shift, rotation), then flips and contrast jitter.

    :param contexts: (N, H, W) uint8 faces in context, each with its face at ``box``.
    :param box: where the face (the model's framing) lies in every context image, or an (N, 4)
        array of one box each (a detector's box on each face, framed by the model's geometry).
    :param targets: an array, or a dict of arrays for a multi-output model.
    :param batch_size: crops per batch.
    :param seed: seeds the order and the jitter (each batch draws from its own generator, so
        worker threads can build batches in parallel and a run repeats).
    :param size: the model's input side.
    :param jitter: the box's variation; None for evaluation batches, in order and unvaried.
    :param sample_weight: optional per-crop weights.
    :param erase: chance of random erasing per crop.
    :param workers: threads that build batches (OpenCV releases the GIL).
    :param background: chance of another image's blurred content around the face.
    :param low_resolution: chance of seeing the face at a lower resolution.
    :param paste: chance of the face pasted into a photo (needs ``chip``, where each context's
        chip lies).
    :param photo: chance of real photos' effects on the face (exposure, blur, noise, JPEG, a
        turn, a hand or glasses).
    """

    def __init__(self, contexts, box, targets, batch_size: int, seed: int, size: int,
                 jitter: BoxJitter | None, sample_weight: np.ndarray | None = None,
                 erase: float = 0.0, workers: int = 1, background: float = 0.0,
                 low_resolution: float = 0.0, paste: float = 0.0,
                 chip: tuple[int, int, int, int] | None = None, photo: float = 0.0):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.contexts, self.targets = contexts, targets
        self.boxes = np.broadcast_to(np.asarray(box, np.float64), (len(contexts), 4))
        self.batch_size, self.seed, self.size = batch_size, seed, size
        self.jitter, self.sample_weight, self.erase = jitter, sample_weight, erase
        self.background, self.low_resolution = background, low_resolution
        self.paste, self.chip, self.photo = paste, chip, photo
        self.epoch = 0
        self.order = np.arange(len(contexts))
        self._shuffle()

    def __len__(self) -> int:
        return math.ceil(len(self.contexts) / self.batch_size)

    def _shuffle(self) -> None:
        if self.jitter is not None:
            self.order = np.random.default_rng((self.seed, self.epoch)).permutation(len(self.contexts))

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._shuffle()

    def start_at_epoch(self, epoch: int) -> None:
        """Draw as epoch ``epoch`` (0-based) of the run: what a resumed run starts with."""
        self.epoch = epoch
        self._shuffle()

    def __getitem__(self, batch: int):
        index = self.order[batch * self.batch_size:(batch + 1) * self.batch_size]
        boxes = self.boxes[index]
        if self.jitter is None:
            crops = np.stack([crop_face(self.contexts[i], tuple(b), WHOLE_BOX, self.size)
                              for i, b in zip(index, boxes, strict=True)])
            x = crops.astype(np.float32)[..., None]
        else:
            rng = np.random.default_rng((self.seed, self.epoch, batch))
            x = jittered_crops(self.contexts[index], boxes, self.size, rng, self.jitter, self.erase,
                               self.background, self.low_resolution, self.paste, self.chip, self.photo)
        return with_targets(x, self.targets, self.sample_weight, index)
