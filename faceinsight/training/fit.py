"""Fitting: seeding, thread limits, the learning-rate schedule, and one compiled, fitted run.

Keras (and with it TensorFlow) is imported inside the functions that use it, so a script's
``--threads`` is applied before TensorFlow starts its thread pools.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np


def new_model(build, init_weights: Path | None):
    """``build()``, or the model saved in ``init_weights`` (a later round), architecture and
    weights both: a round may continue a network ``build`` no longer makes, such as the emotion
    network recovered from its ``.tflite`` (:mod:`faceinsight.training.recover`)."""
    import keras

    import faceinsight.training.losses  # noqa: F401  (registers the custom loss and metric)

    if not init_weights:
        return build()
    print(f"starting from the model in {init_weights.name}", flush=True)
    return keras.saving.load_model(init_weights, compile=False)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and Keras so a run can be repeated."""
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def limit_threads(threads: int) -> None:
    """Cap TensorFlow's thread pools (call before any TensorFlow op runs)."""
    if threads <= 0:
        return
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import tensorflow as tf
    except ImportError:  # another Keras backend
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already started in this process (tests, notebooks)
        print(f"note: TensorFlow is already running; --threads {threads} not applied", flush=True)


def cosine_schedule(peak: float, total_steps: int, warmup_steps: int, constant: bool = False):
    """Linear warm-up then cosine decay to zero: fast, stable training in few epochs. With
    ``constant`` the rate stays at ``peak`` after the warm-up, as weight averaging wants it."""
    import keras

    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 10, decay_steps=max(1, total_steps - warmup_steps),
        warmup_target=peak, warmup_steps=warmup_steps, alpha=1.0 if constant else 0.01,
    )


def training_device() -> str:
    """Where Keras trains, in words: 'GPU (its name), Keras on torch' or 'CPU, Keras on ...'."""
    import keras

    backend = keras.backend.backend()
    name = None
    if backend == "torch":
        import torch

        name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    elif backend == "tensorflow":
        import tensorflow as tf

        name = "GPU" if tf.config.list_physical_devices("GPU") else None
    return f"GPU ({name}), Keras on {backend}" if name else f"CPU, Keras on {backend}"


def compile_and_fit(model, train_batches, val_batches, args, monitor: str, mode: str,
                    started: float, **compile_args) -> list[dict]:
    """Compile with AdamW on the cosine schedule, fit, and write ``run.json``; returns the history.

    :param args: the script's arguments (epochs, learning_rate, out, budget_minutes, ...).
    :param monitor: the validation figure that picks the best checkpoint, e.g. ``'val_loss'``.
    :param mode: ``'min'`` or ``'max'`` for ``monitor``.
    :param started: when the run started (``time.time()``), for the recorded duration.
    :param compile_args: loss, metrics and loss weights for ``model.compile``.
    """
    import keras

    steps = len(train_batches) * args.epochs
    schedule = cosine_schedule(args.learning_rate, steps, len(train_batches),
                               constant=args.constant_learning_rate)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4), **compile_args)
    args.out.mkdir(parents=True, exist_ok=True)
    from faceinsight.training.callbacks import ProgressLog, WeightAverage, training_callbacks

    callbacks = training_callbacks(args.out, monitor, mode, args.budget_minutes * 60)
    if args.average_from:
        callbacks.append(WeightAverage(args.out, args.average_from, train_batches))
    print(f"model: {model.count_params():,} parameters; {args.epochs} epochs", flush=True)
    model.fit(train_batches, validation_data=val_batches, epochs=args.epochs,
              callbacks=callbacks, verbose=0)
    history = next(c for c in callbacks if isinstance(c, ProgressLog)).history
    run = {"seconds": round(time.time() - started), "epochs_run": len(history),
           "device": training_device(),
           "args": {k: argument_text(v) for k, v in vars(args).items()}}
    (args.out / "run.json").write_text(json.dumps(run, indent=1))
    return history


def argument_text(value) -> str:
    """An argument as ``run.json`` records it: a list (``--teacher A B``) as its items, spaced."""
    return " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
