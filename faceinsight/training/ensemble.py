"""What ships: a model as trained, flip-averaged, or several checkpoints averaged (an ensemble).

    python -m faceinsight.training.ensemble --data PATH/TO/fer2013 \\
        --members build/emotion_round1/best.keras build/emotion/best.keras --out build/emotion_ensemble

Checkpoints from successive training rounds (each restarted from the one before with a fresh
learning-rate schedule) make a snapshot ensemble: averaging their scores is more accurate than
the newest alone. Each member costs one forward pass per view; ``--mirror`` also averages
over the mirror image of the crop (twice the cost: check ``bench/bench_models.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keras

from faceinsight.training.architectures import Mirror, flip_averaged

ENSEMBLE_SUFFIX = "_ensemble"

# Both models run on the crop and its mirror image and average: it steadies the answer
# against small changes of framing (the astronaut's age moved 8 years without it).
FLIP_AVERAGED = ("age_gender", "emotion")  # both ship averaged over the crop and its mirror


def is_ensemble(model) -> bool:
    """Whether ``model`` was built by :func:`average_of`."""
    return model.name.endswith(ENSEMBLE_SUFFIX)


def average_of(models: list, name: str, mirror: bool = False) -> object:
    """One Keras model whose output is the mean of the members' outputs on the same input.

    :param models: trained single-output models with the same input and output shapes.
    :param name: the model's name; ``'_ensemble'`` is appended.
    :param mirror: also average each member's outputs on the mirror image of the input.
    """
    for index, member in enumerate(models):
        member.name = f"member{index + 1}"  # nested models need distinct names
    inputs = keras.Input(models[0].input_shape[1:], name=models[0].inputs[0].name)
    views = [inputs, Mirror(name="mirror")(inputs)] if mirror else [inputs]
    outputs = keras.layers.Average(name=f"{name}_mean")(
        [member(view) for member in models for view in views])
    return keras.Model(inputs, outputs, name=f"{name}{ENSEMBLE_SUFFIX}")


def served_form(model, kind: str):
    """The model as it ships: single models of a FLIP_AVERAGED kind wrapped to average the
    crop and its mirror image; everything else as it is.

    :param model: a trained Keras model (or an ensemble from :func:`average_of`).
    :param kind: ``'age_gender'`` or ``'emotion'``.
    """
    if kind in FLIP_AVERAGED and not is_ensemble(model):
        return flip_averaged(model)
    return model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="FER2013 folder with val/")
    parser.add_argument("--members", type=Path, nargs="+", required=True, help="best.keras files")
    parser.add_argument("--out", type=Path, default=Path("build/emotion_ensemble"))
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--cache", type=Path, default=Path(".cache"), help="decoded-array cache")
    parser.add_argument("--mirror", action="store_true", help="also average over mirror images")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Average emotion checkpoints into ``OUT/best.keras`` and report it on FER2013 val/."""
    args = parse_args(argv)
    from faceinsight.training.datasets import load_fer2013
    from faceinsight.training.report import report_emotion

    members = [keras.saving.load_model(path, compile=False) for path in args.members]
    args.out.mkdir(parents=True, exist_ok=True)
    average_of(members, "emotion", args.mirror).save(args.out / "best.keras")
    # The training history is the newest member's (its rounds chain back to the first).
    history_dir = args.members[-1].parent
    (args.out / "members.json").write_text(json.dumps(
        {"members": [f"{p.parent.name}/{p.name}" for p in args.members]}, indent=1))
    val = load_fer2013(args.data, "val", args.cache)
    return report_emotion(history_dir, val, args.reports, model_path=args.out / "best.keras")


if __name__ == "__main__":
    main()
