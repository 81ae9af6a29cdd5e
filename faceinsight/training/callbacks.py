"""Keras callbacks for the training scripts: Keras's best checkpoint, plus the last epoch's
saved whole or not at all, a progress log, a time budget and a running average of the weights.
Imported only once Keras may start (after ``fit.limit_threads``)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import keras


class ProgressLog(keras.callbacks.Callback):
    """One line per epoch on stdout, and the whole history in ``history.json`` (the reports read
    it), each epoch's figures with its number and duration."""

    def __init__(self, out_dir: Path, earlier: list[dict] | None = None):
        super().__init__()
        self.out_dir, self.history = out_dir, list(earlier or [])
        self.epoch_started = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        figures = {k: float(v) for k, v in (logs or {}).items()}
        seconds = round(time.time() - self.epoch_started, 1)
        self.history.append({**figures, "epoch": epoch + 1, "seconds": seconds})
        (self.out_dir / "history.json").write_text(json.dumps(self.history, indent=1))
        shown = " ".join(f"{k}={v:.4f}" for k, v in figures.items() if k != "learning_rate")
        print(f"epoch {epoch + 1}: {shown} ({seconds:.0f} s)", flush=True)


class LastCheckpoint(keras.callbacks.Callback):
    """Saves the model (with its optimizer) after every epoch, whole or not at all: written
    beside ``path`` and renamed over it, so a run stopped from outside mid-save leaves the
    previous epoch's checkpoint for ``--resume``."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        partial = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
        self.model.save(partial)
        os.replace(partial, self.path)


class TimeBudget(keras.callbacks.Callback):
    """Stops training cleanly when the next epoch would end past the budget."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.started, self.epoch_started = seconds, time.time(), time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        now = time.time()
        if now - self.started + (now - self.epoch_started) > self.seconds:
            print(f"time budget of {self.seconds:.0f} s reached; stopping", flush=True)
            self.model.stop_training = True


class WeightAverage(keras.callbacks.Callback):
    """Stochastic weight averaging: the mean of the weights at the end of every epoch from
    ``first_epoch`` (1-based) on, saved as ``averaged.keras`` when training ends, after the
    batch-normalisation statistics are measured again for the averaged weights on
    ``bn_batches`` training batches (the average of two networks' statistics is neither's).

    :param out_dir: where ``averaged.keras`` goes.
    :param first_epoch: the first epoch whose weights join the average.
    :param batches: the training batches (a ``keras.utils.PyDataset``), read by index.
    :param bn_batches: how many of them measure the statistics.
    """

    def __init__(self, out_dir: Path, first_epoch: int, batches, bn_batches: int = 200):
        super().__init__()
        self.out_dir, self.first_epoch = out_dir, first_epoch
        self.batches, self.bn_batches = batches, bn_batches
        self.mean: list | None = None
        self.count = 0

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 < self.first_epoch:
            return
        weights = self.model.get_weights()
        self.count += 1
        if self.mean is None:
            self.mean = [w.astype("float64") for w in weights]
        else:
            for mean, w in zip(self.mean, weights, strict=True):
                mean += (w - mean) / self.count

    def on_train_end(self, logs=None):
        if self.mean is None:
            return
        last = self.model.get_weights()
        self.model.set_weights([m.astype(w.dtype) for m, w in zip(self.mean, last, strict=True)])
        measure_batch_statistics(self.model, self.batches, self.bn_batches)
        self.model.save(self.out_dir / "averaged.keras")
        print(f"averaged.keras: the mean of {self.count} epochs' weights", flush=True)
        self.model.set_weights(last)  # the run's model stays its last epoch's, as last.keras


def measure_batch_statistics(model: keras.Model, batches, count: int) -> None:
    """Set every batch-normalisation layer's moving mean and variance to their plain average
    over the first ``count`` of ``batches`` (PyTorch's ``swa_utils.update_bn``): each batch is
    run in training mode with the momentum that weights it as one of ``i + 1`` so far."""
    norms = [layer for layer in _all_layers(model)
             if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in norms]
    for i in range(min(count, len(batches))):
        for layer in norms:
            layer.momentum = i / (i + 1)
        model(batches[i][0], training=True)
    for layer, momentum in zip(norms, saved, strict=True):
        layer.momentum = momentum


def _all_layers(model: keras.Model) -> list:
    """The model's layers, with the layers of any nested model."""
    found = []
    for layer in model.layers:
        found += _all_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return found


def training_callbacks(out_dir: Path, monitor: str, mode: str, budget_s: float,
                       earlier: list[dict] | None = None) -> list:
    """Best checkpoint (by ``monitor``), last checkpoint, progress log and time budget.

    :param out_dir: where ``best.keras``, ``last.keras`` and ``history.json`` go.
    :param monitor: the figure that picks ``best.keras``, e.g. ``'val_accuracy'``.
    :param mode: ``'min'`` or ``'max'`` for ``monitor``.
    :param budget_s: stop before this many seconds have passed.
    :param earlier: a resumed run's finished epochs: the log goes on from them, and ``best.keras``
        is replaced only by an epoch better than all of them.
    """
    best = keras.callbacks.ModelCheckpoint(out_dir / "best.keras", monitor=monitor, mode=mode,
                                           save_best_only=True)
    if scores := [e[monitor] for e in earlier or [] if monitor in e]:
        best.best = max(scores) if mode == "max" else min(scores)
    return [best, LastCheckpoint(out_dir / "last.keras"), ProgressLog(out_dir, earlier), TimeBudget(budget_s)]
