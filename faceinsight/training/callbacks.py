"""Keras callbacks for the training scripts: Keras's own checkpoints, plus a progress log and a
time budget. Imported only once Keras may start (after ``common.limit_threads``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras


class ProgressLog(keras.callbacks.Callback):
    """One line per epoch on stdout, and the whole history in ``history.json`` (the reports read
    it), each epoch's figures with its number and duration."""

    def __init__(self, out_dir: Path):
        super().__init__()
        self.out_dir, self.history = out_dir, []
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


def training_callbacks(out_dir: Path, monitor: str, mode: str, budget_s: float) -> list:
    """Best checkpoint (by ``monitor``), last checkpoint, progress log and time budget.

    :param out_dir: where ``best.keras``, ``last.keras`` and ``history.json`` go.
    :param monitor: the figure that picks ``best.keras``, e.g. ``'val_accuracy'``.
    :param mode: ``'min'`` or ``'max'`` for ``monitor``.
    :param budget_s: stop before this many seconds have passed.
    """
    return [
        keras.callbacks.ModelCheckpoint(out_dir / "best.keras", monitor=monitor, mode=mode,
                                        save_best_only=True),
        keras.callbacks.ModelCheckpoint(out_dir / "last.keras"),
        ProgressLog(out_dir),
        TimeBudget(budget_s),
    ]
