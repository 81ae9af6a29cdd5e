"""Average the weights of a run's last epochs into one model (stochastic weight averaging).

    python -m faceinsight.training.average --data PATH/TO/fer2013 --run build/emotion_round4 \\
        --last 4 --out build/emotion_averaged [--with build/emotion_round3/best.keras]

The run must have been trained with ``--keep-epochs``. Unlike an ensemble, the average is one
network of the same size, so it costs nothing at serving time; weights from the flat late part
of training average to a point that generalises better than any one of them (Izmailov et
al. 2018). Batch-normalisation statistics do not average linearly, so they are measured again
on the training crops.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from faceinsight.training.common import epoch_checkpoints


def average_weights(models: list) -> object:
    """The first model, its weights replaced by the mean of every model's weights.

    :param models: Keras models of one architecture.
    """
    averaged = models[0]
    weights = [m.get_weights() for m in models]
    averaged.set_weights([np.mean(same, axis=0) for same in zip(*weights, strict=True)])
    return averaged


def recalibrate_batch_norm(model, images: np.ndarray, batch_size: int = 256) -> None:
    """Re-estimate every batch-normalisation layer's moving mean and variance, in place.

    Each batch runs in training mode with momentum ``i / (i + 1)`` for batch ``i``, so the
    moving statistics end as the plain mean over all batches (as PyTorch's ``update_bn``).
    Dropout is off meanwhile: the statistics are those of the activations seen when serving.

    :param model: a Keras model.
    :param images: (N, S, S) uint8 crops (un-augmented: what the model sees when serving).
    :param batch_size: crops per forward pass.
    """
    import keras

    layers = _all_layers(model)
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    dropouts = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    momenta, rates = [layer.momentum for layer in norms], [layer.rate for layer in dropouts]
    try:
        for layer in dropouts:
            layer.rate = 0.0
        for index, start in enumerate(range(0, len(images), batch_size)):
            for layer in norms:
                layer.momentum = index / (index + 1)
            batch = images[start:start + batch_size].astype(np.float32)[..., None]
            model(batch, training=True)
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum
        for layer, rate in zip(dropouts, rates, strict=True):
            layer.rate = rate


def _all_layers(model) -> list:
    """Every layer, nested models' layers included."""
    import keras

    found = []
    for layer in model.layers:
        found += _all_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="FER2013 folder with train/ and val/")
    parser.add_argument("--run", type=Path, required=True, help="a training folder made with --keep-epochs")
    parser.add_argument("--last", type=int, default=4, help="how many of the last epochs to average")
    parser.add_argument("--with", dest="others", type=Path, nargs="*", default=[],
                        help="more checkpoints to average in, e.g. the previous round's best.keras")
    parser.add_argument("--out", type=Path, default=Path("build/emotion_averaged"))
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--cache", type=Path, default=Path(".cache"), help="decoded-array cache")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Average an emotion run's last epochs into ``OUT/best.keras`` and report it on FER2013 val/."""
    args = parse_args(argv)
    import keras

    from faceinsight.training.datasets import load_fer2013
    from faceinsight.training.report import report_emotion

    checkpoints = epoch_checkpoints(args.run)
    if len(checkpoints) < args.last or args.last < 1:
        raise SystemExit(f"{args.run.name} has {len(checkpoints)} epoch checkpoints; "
                         f"cannot average the last {args.last} (train with --keep-epochs)")
    epochs = list(checkpoints)[-args.last:]
    paths = [checkpoints[e] for e in epochs] + list(args.others)
    model = average_weights([keras.saving.load_model(path, compile=False) for path in paths])
    recalibrate_batch_norm(model, load_fer2013(args.data, "train", args.cache)["images"])
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(args.out / "best.keras")
    others = [f"{path.parent.name}/{path.name}" for path in args.others]  # no machine paths
    (args.out / "averaged.json").write_text(json.dumps(
        {"run": args.run.name, "epochs": epochs, "with": others}, indent=1))
    val = load_fer2013(args.data, "val", args.cache)
    return report_emotion(args.run, val, args.reports, model_path=args.out / "best.keras",
                          averaged_epochs=epochs, averaged_with=others)


if __name__ == "__main__":
    main()
