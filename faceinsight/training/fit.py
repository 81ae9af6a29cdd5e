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


def new_model(build, args):
    """The network a run trains: the stopped run's ``last.keras`` with ``--resume`` (compiled:
    its optimizer's state and place in the schedule come with it), else the model saved in
    ``--init-weights`` (a later round), architecture and weights both, else ``build()``. A round
    may continue a network ``build`` no longer makes, such as the emotion network recovered from
    its ``.tflite`` (:mod:`faceinsight.training.recover`).

    :param build: makes a new network.
    :param args: the script's arguments (``resume``, ``out``, ``init_weights``).
    """
    import keras

    import faceinsight.training.losses  # noqa: F401  (registers the custom loss and metric)

    if args.resume:
        done = len(resumed_history(args))
        print(f"resuming from {args.out.name}/last.keras after epoch {done}", flush=True)
        return keras.saving.load_model(args.out / "last.keras")
    if not args.init_weights:
        return build()
    print(f"starting from the model in {args.init_weights.name}", flush=True)
    return keras.saving.load_model(args.init_weights, compile=False)


# Options that change nothing a run computes: a resumed run may give them anew.
FREE_ON_RESUME = frozenset({"resume", "threads", "workers", "budget_minutes", "cache", "reports"})


def resumed_history(args) -> list[dict]:
    """The finished epochs' figures of the run that ``--resume`` continues (empty without it).

    :param args: the script's arguments; the run in ``args.out`` must have started with the same
        options (but :data:`FREE_ON_RESUME`) and left epochs to run.
    :raises SystemExit: with a message saying what stands in the way.
    """
    if not args.resume:
        return []
    files = [args.out / name for name in ("last.keras", "history.json", "run.json")]
    if missing := [f.name for f in files if not f.exists()]:
        raise SystemExit(f"--resume: no run to continue in {args.out} ({', '.join(missing)} missing)")
    history = json.loads(files[1].read_text())
    if changed := changed_options(args, json.loads(files[2].read_text())["args"]):
        raise SystemExit(f"--resume: the run in {args.out} started with other options: "
                         + ", ".join(changed))
    if args.average_from:
        raise SystemExit("--resume: --average-from keeps its running mean in memory only")
    if len(history) >= args.epochs:
        raise SystemExit(f"--resume: the run in {args.out} has run all its {args.epochs} epochs")
    return history


def changed_options(args, started: dict[str, str]) -> list[str]:
    """The options but :data:`FREE_ON_RESUME` that ``args`` gives otherwise than a run's
    ``run.json`` recorded them (``started``), each as ``--name (then -> now)``. A folder or file
    spelt another way (relative, absolute) is the same one; an option the script has gained or
    lost since the run started is not compared."""
    given = {k: argument_text(v) for k, v in vars(args).items()}
    paths = {k for k, v in vars(args).items()
             if isinstance(v, Path) or (isinstance(v, list) and v and isinstance(v[0], Path))}

    def same(key: str) -> bool:
        now, then = given.get(key), started.get(key)
        if key in paths and None not in (now, then):
            return [os.path.realpath(p) for p in now.split()] == [os.path.realpath(p) for p in then.split()]
        return now == then

    return [f"--{k.replace('_', '-')} ({started.get(k)} -> {given.get(k)})"
            for k in sorted(given.keys() & started.keys()) if k not in FREE_ON_RESUME and not same(k)]


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
    """Compile with AdamW on the cosine schedule (or, with ``--resume``, go on with the loaded
    model's optimizer from the epoch after its last), fit, and write ``run.json``; returns the
    whole run's history.

    :param args: the script's arguments (epochs, learning_rate, out, budget_minutes, ...).
    :param monitor: the validation figure that picks the best checkpoint, e.g. ``'val_loss'``.
    :param mode: ``'min'`` or ``'max'`` for ``monitor``.
    :param started: when the run started (``time.time()``), for the recorded duration.
    :param compile_args: loss, metrics and loss weights for ``model.compile``.
    """
    import keras

    from faceinsight.training.callbacks import ProgressLog, WeightAverage, training_callbacks

    earlier = resumed_history(args)
    if not earlier:
        steps = len(train_batches) * args.epochs
        schedule = cosine_schedule(args.learning_rate, steps, len(train_batches),
                                   constant=args.constant_learning_rate)
        model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4), **compile_args)
    args.out.mkdir(parents=True, exist_ok=True)
    run = _run_record(args, earlier)
    _save_run(args, run, started, earlier, len(earlier))
    train_batches.start_at_epoch(len(earlier))
    callbacks = training_callbacks(args.out, monitor, mode, args.budget_minutes * 60, earlier)
    if args.average_from:
        callbacks.append(WeightAverage(args.out, args.average_from, train_batches))
    print(f"model: {model.count_params():,} parameters; {args.epochs} epochs"
          + (f", from epoch {len(earlier) + 1}" if earlier else ""), flush=True)
    model.fit(train_batches, validation_data=val_batches, epochs=args.epochs,
              initial_epoch=len(earlier), callbacks=callbacks, verbose=0)
    history = next(c for c in callbacks if isinstance(c, ProgressLog)).history
    _save_run(args, run, started, earlier, len(history))
    return history


def _run_record(args, earlier: list[dict]) -> dict:
    """What ``run.json`` keeps of a run: the options it started with (what ``--resume`` checks),
    the epochs after which it was resumed, and where it trains now."""
    if not earlier:
        return {"args": {k: argument_text(v) for k, v in vars(args).items()}, "resumed_after": [],
                "device": training_device()}
    before = json.loads((args.out / "run.json").read_text())
    return {"args": before["args"], "resumed_after": [*before.get("resumed_after", []), len(earlier)],
            "device": training_device()}


def _save_run(args, run: dict, started: float, earlier: list[dict], epochs_run: int) -> None:
    """Write ``run.json`` with the epochs run and the seconds spent, a resumed run's earlier
    epochs included: as a run starts, so that a run stopped from outside can be resumed, and
    when it ends."""
    seconds = round(time.time() - started + sum(e["seconds"] for e in earlier))
    (args.out / "run.json").write_text(json.dumps({**run, "seconds": seconds, "epochs_run": epochs_run},
                                                  indent=1))


def argument_text(value) -> str:
    """An argument as ``run.json`` records it: a list (``--teacher A B``) as its items, spaced."""
    return " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
