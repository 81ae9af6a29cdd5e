"""Score an emotion model on bare face crops from three sources, as serving reads a face crop.

    python -m faceinsight.training.emotion_eval --models models --fer2013 DATA/fer2013 \\
        --ferplus DATA/ferplus --ckplus DATA/ckplus48 [--keras build/x/best.keras] [--out f.json]

Each face goes through :func:`faceinsight.crops.crops_for_whole_image` (the server's path for an image
given as one face crop) and the served ``.tflite`` (``FaceModels.predict_emotion``), or a Keras
checkpoint in its served form (flip-averaged). The sets:

- ``fer2013_val``: FER2013 ``val/`` (PublicTest) against its original labels;
- ``ferplus_val``: the same faces against FER+'s majority over our seven classes; a face whose
  top count is tied, or that has no vote on the seven (not-a-face, contempt, unknown), is left out;
- ``ckplus_held_out``: CK+ faces of the held-out subjects (:mod:`faceinsight.training.ckplus`),
  six classes (CK+ has no neutral: a neutral answer is wrong).

Each set also reports every class's predicted share against its true share, and the largest
ratio of the two (the catch-all rule: no class predicted over 1.5 times its true share).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from faceinsight.labels import EMOTIONS
from faceinsight.models import FaceModels
from faceinsight.training.ckplus import load_ckplus
from faceinsight.training.datasets import load_fer2013
from faceinsight.training.ferplus import majority, read_votes, votes_for

CATCH_ALL_RATIO = 1.5


def shares(true: np.ndarray, predicted: np.ndarray) -> dict:
    """Each class's true and predicted share, and the largest predicted/true ratio over the
    classes present in ``true`` (a class absent from it but predicted is named apart).

    :param true: (N,) class indices.
    :param predicted: (N,) class indices.
    """
    count = max(len(true), 1)
    per_class = {name: {"true": float((true == i).sum() / count),
                        "predicted": float((predicted == i).sum() / count)}
                 for i, name in enumerate(EMOTIONS)}
    ratios = {name: s["predicted"] / s["true"] for name, s in per_class.items() if s["true"] > 0}
    worst = max(ratios, key=ratios.get)
    return {"per_class": per_class, "largest_ratio": round(ratios[worst], 3), "largest_ratio_class": worst,
            "predicted_absent_classes": {n: s["predicted"] for n, s in per_class.items()
                                         if s["true"] == 0 and s["predicted"] > 0},
            "catch_all_rule_met": bool(ratios[worst] <= CATCH_ALL_RATIO)}


def scored(true: np.ndarray, predicted: np.ndarray, name: str) -> dict:
    """Accuracy, count and class shares of one evaluation set."""
    return {"set": name, "images": int(len(true)), "accuracy": float((predicted == true).mean()),
            **shares(true, predicted)}


def tflite_scorer(models_dir: Path):
    """Scores (N, 7) of 48 px crops through the served ``.tflite`` of ``models_dir``."""
    models = FaceModels(models_dir)
    return lambda crops: np.array([list(models.predict_emotion(c).values()) for c in crops])


def keras_scorer(path: Path):
    """Scores (N, 7) of 48 px crops through a Keras checkpoint in its served (flip-averaged) form."""
    import keras

    import faceinsight.training.losses  # noqa: F401  (registers custom objects)
    from faceinsight.training.architectures import served_form

    model = served_form(keras.saving.load_model(path, compile=False))
    return lambda crops: model.predict(crops.astype(np.float32)[..., None], batch_size=256, verbose=0)


def evaluate(score, fer2013: Path, ferplus: Path | None, ckplus: Path | None,
             cache: Path | None = Path(".cache")) -> dict:
    """Every set's figures for one model.

    :param score: crops (N, 48, 48) uint8 -> scores (N, 7).
    :param fer2013: the FER2013 folder (``val/``); ``ferplus``/``ckplus``: those folders or None.
    """
    val = load_fer2013(fer2013, "val", cache)
    predicted = score(val["images"]).argmax(axis=1)
    results = {"fer2013_val": scored(val["label"], predicted, "FER2013 val/, original labels")}
    if ferplus:
        agreed = majority(votes_for(val["names"], "val", read_votes(ferplus / "labels.csv")))
        kept = agreed >= 0
        results["ferplus_val"] = {
            **scored(agreed[kept], predicted[kept], "FER2013 val/ against FER+'s majority over 7 classes"),
            "left_out": int((~kept).sum()), "left_out_why": "tied top count or no vote on the 7 classes"}
    if ckplus:
        faces = load_ckplus(ckplus, held_out=True)
        results["ckplus_held_out"] = {
            **scored(faces["label"], score(faces["images"]).argmax(axis=1),
                     "CK+ held-out subjects, bare 48 px crops (6 classes)"),
            "subjects": int(len(set(faces["subject"])))}
    return results


def table(results: dict) -> str:
    """One line per set: accuracy, images, the largest predicted/true share."""
    return "\n".join(f"{key:16s} {r['accuracy']:.4f} ({r['images']} faces)  largest share ratio "
                     f"{r['largest_ratio']:.2f} ({r['largest_ratio_class']})"
                     for key, r in results.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models"), help="served models folder")
    parser.add_argument("--keras", type=Path, default=None, help="score this checkpoint instead")
    parser.add_argument("--fer2013", type=Path, required=True)
    parser.add_argument("--ferplus", type=Path, default=None)
    parser.add_argument("--ckplus", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=Path(".cache"), help="decoded-array cache")
    parser.add_argument("--out", type=Path, default=None, help="write the figures here (JSON)")
    args = parser.parse_args(argv)
    score = keras_scorer(args.keras) if args.keras else tflite_scorer(args.models)
    results = evaluate(score, args.fer2013, args.ferplus, args.ckplus, args.cache)
    print(table(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
