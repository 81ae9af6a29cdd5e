"""Validation figures and plots for the trained models: reports/metrics.json and PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from faceinsight.labels import AGE_BANDS, AGE_GROUPS, EMOTIONS, GENDERS, RACES, age_band, age_group
from faceinsight.models import summarise_age
from faceinsight.training.model_card import checkpoint_epoch

TARGETS = {"emotion_accuracy": 0.71, "age_mae": 5.0, "gender_accuracy": 0.94}
FLOOR = {"emotion_accuracy": 0.673, "age_mae": 5.98, "gender_accuracy": 0.91}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _load_checkpoint(path: Path):
    import keras

    import faceinsight.training.architectures  # noqa: F401  (registers the mirror layers)
    import faceinsight.training.losses  # noqa: F401  (registers the custom loss and metric)

    return keras.saving.load_model(path, compile=False)


def _predict(model, images: np.ndarray, batch: int = 256):
    x = images.astype(np.float32)[..., None]
    return model.predict(x, batch_size=batch, verbose=0)


def confusion(true: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Counts: rows are true classes, columns predicted ones."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def plot_confusion(matrix: np.ndarray, labels: list[str], title: str, path: Path) -> None:
    """Row-normalised confusion matrix with counts, as a PNG."""
    plt = _plt()
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.1 * len(labels) + 2, 1.0 * len(labels) + 1.5))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for (i, j), value in np.ndenumerate(rows):
        ax.text(j, i, f"{value:.2f}\n({matrix[i, j]})", ha="center", va="center", fontsize=7,
                color="white" if value > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(history: list[dict], series: list[tuple[str, str]], title: str, path: Path,
                restarts: list[int] = ()) -> None:
    """Learning curves (train and validation per epoch) for the named metrics.

    :param restarts: epochs after which training restarted from a checkpoint (drawn as lines).
    """
    plt = _plt()
    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.6))
    axes = np.atleast_1d(axes)
    epochs = [h["epoch"] for h in history]
    for ax, (key, label) in zip(axes, series, strict=True):
        ax.plot(epochs, [h.get(key, np.nan) for h in history], "o-", label="train")
        ax.plot(epochs, [h.get(f"val_{key}", np.nan) for h in history], "o-", label="validation")
        ax.set_xlabel("epoch")
        for restart in restarts:
            ax.axvline(restart + 0.5, color="gray", ls=":", lw=1)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_metrics(reports_dir: Path, kind: str, section: dict) -> dict:
    """Merge one model's figures into reports/metrics.json and return the whole file."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics[kind] = section
    metrics["targets"], metrics["floor"] = TARGETS, FLOOR
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _load_round(out_dir: Path) -> tuple[list[dict], dict]:
    history = json.loads((out_dir / "history.json").read_text())
    run_path = out_dir / "run.json"
    run = json.loads(run_path.read_text()) if run_path.exists() else {}
    return history, run


ROUND_CHECKPOINTS = ("best.keras", "last.keras")  # what a round writes, beside epoch_NN.keras once


def _training_rounds(out_dir: Path) -> list[tuple[list[dict], dict]]:
    """This run and, first, the runs it started from (``--init-weights``), oldest first. Only a
    checkpoint a round wrote leads to that round: a network rebuilt into a round's folder
    (``recover``'s ``recovered.keras``) is not that round's training."""
    rounds = [_load_round(out_dir)]
    while (init := rounds[0][1].get("args", {}).get("init_weights")) not in (None, "None"):
        earlier = Path(init).parent
        written = Path(init).name in ROUND_CHECKPOINTS or checkpoint_epoch(Path(init)) is not None
        if not written or not (earlier / "history.json").exists() or len(rounds) > 10:
            break
        rounds.insert(0, _load_round(earlier))
    return rounds


PATH_ARGUMENTS = ("data", "out", "reports", "cache", "init_weights", "ferplus", "ckplus", "teacher",
                  "detector_framing", "utkface", "utkface_teacher")


def _sanitised(args: dict) -> dict:
    """Folder and file names only (each of a spaced list's): no machine paths in the reports."""
    return {k: " ".join(Path(p).name for p in v.split()) if k in PATH_ARGUMENTS and v not in (None, "None")
            else v for k, v in args.items()}


def _run_info(out_dir: Path) -> tuple[list[dict], dict]:
    """The whole training history (every round, epochs numbered on) and a summary of the rounds.

    :returns: (history, run) where run has the total ``seconds``, the last round's ``args``, the
        per-round ``rounds`` and ``restarts`` (the epochs after which a new round began).
    """
    history, rounds, restarts = [], [], []
    for round_history, run in _training_rounds(out_dir):
        if history:
            restarts.append(len(history))
        history += [{**h, "epoch": len(history) + i + 1} for i, h in enumerate(round_history)]
        rounds.append({"epochs": len(round_history), "seconds": run.get("seconds"),
                       "device": run.get("device", "CPU"),
                       "args": _sanitised(run.get("args", {}))})
    total = sum(r["seconds"] or 0 for r in rounds)
    return history, {"seconds": total, "args": rounds[-1]["args"], "rounds": rounds,
                     "restarts": restarts}


def _best_epoch(history: list[dict], key: str | None, mode: str, restarts: list[int]) -> int:
    """The epoch whose checkpoint ships: the best one of the last round (1-based, over all
    rounds), or the last epoch when ``key`` is None (no validation figure chose it)."""
    if key is None:
        return len(history)
    start = restarts[-1] if restarts else 0
    values = [h[key] for h in history[start:]]
    return start + int(np.argmax(values) if mode == "max" else np.argmin(values)) + 1


# Each model's learning curves: the figures drawn (train and ``val_``), the title and the file.
CURVES = {
    "emotion": ([("loss", "loss"), ("accuracy", "accuracy")], "Emotion model", "emotion_curves.png"),
    "age_gender": ([("age_mae", "age MAE (years)"), ("gender_binary_accuracy", "gender accuracy")],
                   "Age/gender model", "age_gender_curves.png"),
}


def _curve_points(history: list[dict], kind: str) -> list[dict]:
    """The per-epoch figures the curves draw, kept in metrics.json so that a later round that
    starts from the shipped model (rebuilt from its .tflite) can draw them again."""
    keys = [k for key, _ in CURVES[kind][0] for k in (key, f"val_{key}")]
    return [{"epoch": h["epoch"], **{k: round(float(h[k]), 4) for k in keys if k in h}} for h in history]


def _training_section(history: list[dict], run: dict, key: str | None, mode: str, kind: str) -> dict:
    return {"epochs": len(history), "seconds": run["seconds"], "args": run["args"],
            "rounds": run["rounds"], "best_epoch": _best_epoch(history, key, mode, run["restarts"]),
            "history": _curve_points(history, kind), "restarts": run["restarts"]}


def draw_curves(reports_dir: Path, kind: str, history: list[dict], restarts: list[int]) -> None:
    """Draw one model's learning curves into ``reports_dir``."""
    series, title, name = CURVES[kind]
    plot_curves(history, series, title, reports_dir / name, restarts)


def _overlap(shipped: list[dict], chain: list[dict]) -> int:
    """How many of the chain's first rounds are the shipped training's last ones (a chain that
    goes on from a shipped round's own checkpoint repeats that round): the same folder, epochs
    and seconds."""
    def same(round_: dict) -> tuple:
        return round_.get("args", {}).get("out"), round_["epochs"], round_.get("seconds")

    return max((k for k in range(1, min(len(shipped), len(chain)) + 1)
                if [same(r) for r in shipped[-k:]] == [same(r) for r in chain[:k]]), default=0)


def continue_shipped(shipped: dict, chain: dict) -> dict:
    """One model's training section after a chain of rounds that began from the shipped model
    (rebuilt from its .tflite by ``recover``, or a shipped round's checkpoint), which the chain's
    own report cannot follow back: the shipped rounds, then the chain's, epochs numbered on.

    :param shipped: the shipped model's ``training`` section (metrics.json).
    :param chain: the chain's ``training`` section, as its training run reported it.
    """
    rounds = shipped["rounds"][:len(shipped["rounds"]) - _overlap(shipped["rounds"], chain["rounds"])]
    offset = sum(r["epochs"] for r in rounds)
    later = [r + offset for r in chain.get("restarts", [])]
    return {**chain, "epochs": offset + chain["epochs"],
            "seconds": sum(r["seconds"] or 0 for r in rounds) + (chain["seconds"] or 0),
            "rounds": rounds + chain["rounds"], "best_epoch": offset + chain["best_epoch"],
            "history": [h for h in shipped.get("history", []) if h["epoch"] <= offset]
            + [{**h, "epoch": h["epoch"] + offset} for h in chain.get("history", [])],
            "restarts": [*(r for r in shipped.get("restarts", []) if r < offset), offset, *later]}


def fold_chain(reports_dir: Path, kind: str, chain_metrics: Path) -> dict:
    """Replace one model's section of ``reports_dir/metrics.json`` by a chain's figures (the
    model the chain trained now ships), its training continuing the shipped rounds'
    (:func:`continue_shipped`); redraw its curves and the model card."""
    metrics = json.loads((reports_dir / "metrics.json").read_text())
    section = json.loads(chain_metrics.read_text())[kind]
    section["training"] = continue_shipped(metrics[kind]["training"], section["training"])
    metrics = update_metrics(reports_dir, kind, section)
    draw_curves(reports_dir, kind, section["training"]["history"], section["training"]["restarts"])
    _write_card(reports_dir, metrics)
    return section


def report_emotion(out_dir: Path, val: dict, reports_dir: Path, checkpoint: str = "best.keras") -> dict:
    """Evaluate the emotion model as it ships on FER2013 val/ and write its figures and plots.

    :param out_dir: the training folder (best.keras, last.keras, history.json, run.json).
    :param val: validation crops and labels as from ``datasets.load_fer2013``.
    :param reports_dir: where metrics.json and the PNGs go.
    :param checkpoint: the checkpoint that ships: ``best.keras`` (``val/`` chose its epoch) or
        ``last.keras`` (the schedule's end; ``val/`` chose nothing).
    """
    from faceinsight.training.architectures import is_mirrored, served_form

    reports_dir.mkdir(parents=True, exist_ok=True)
    network = _load_checkpoint(out_dir / checkpoint)
    single_view = _predict(network, val["images"]).argmax(axis=1)
    shipped = served_form(network)  # what convert.py converts
    scores = _predict(shipped, val["images"])
    predicted, true = scores.argmax(axis=1), val["label"]
    matrix = confusion(true, predicted, len(EMOTIONS))
    history, run = _run_info(out_dir)
    per_class = {name: {"recall": float(matrix[i, i] / max(matrix[i].sum(), 1)),
                        "precision": float(matrix[i, i] / max(matrix[:, i].sum(), 1)),
                        "support": int(matrix[i].sum())} for i, name in enumerate(EMOTIONS)}
    section = {
        "summary": {"accuracy": float((predicted == true).mean()), "validation_images": int(len(true)),
                    "accuracy_single_view": float((single_view == true).mean()),
                    "flip_averaged": is_mirrored(shipped), "checkpoint": checkpoint,
                    "validation_set": "FER2013 val/ (PublicTest)"},
        "per_class": per_class,
        "confusion_matrix": {"labels": list(EMOTIONS), "counts": matrix.tolist()},
        "training": _training_section(history, run, "val_accuracy" if checkpoint == "best.keras" else None,
                                      "max", "emotion"),
    }
    plot_confusion(matrix, list(EMOTIONS), "Emotion, FER2013 val", reports_dir / "emotion_confusion.png")
    draw_curves(reports_dir, "emotion", history, run["restarts"])
    metrics = update_metrics(reports_dir, "emotion", section)
    _write_card(reports_dir, metrics)
    print(f"emotion: validation accuracy {section['summary']['accuracy']:.4f}", flush=True)
    return section


def _grouped(values: np.ndarray, groups: np.ndarray, names) -> dict:
    return {str(name): {"value": float(values[groups == name].mean()), "count": int((groups == name).sum())}
            for name in names if (groups == name).any()}


def report_age_gender(out_dir: Path, val: dict, reports_dir: Path) -> dict:
    """Evaluate the best age/gender checkpoint on the held-out UTKFace split; write figures.

    :param out_dir: the training folder (best.keras, history.json, run.json).
    :param val: validation crops and labels as from ``datasets.load_utkface``.
    :param reports_dir: where metrics.json and the PNGs go.
    """
    reports_dir.mkdir(parents=True, exist_ok=True)
    outputs = _predict(_load_checkpoint(out_dir / "last.keras"), val["images"])  # the last epoch ships
    summaries = [summarise_age(d) for d in outputs["age"]]
    age_pred = np.array([s[0] for s in summaries])
    low = np.array([s[1][0] for s in summaries])
    high = np.array([s[1][1] for s in summaries])
    female = np.asarray(outputs["gender"]).reshape(-1)
    true_age, true_gender = val["age"], val["gender"]
    gender_pred = (female >= 0.5).astype(int)
    error = np.abs(age_pred - true_age)
    correct = (gender_pred == true_gender).astype(float)
    bands = np.array([age_band(a) for a in true_age])
    races = np.array([RACES[r] if 0 <= r < len(RACES) else "unknown" for r in val["race"]])
    genders = np.array([GENDERS[g] for g in true_gender])
    history, run = _run_info(out_dir)
    group_names = [g[0] for g in AGE_GROUPS]
    group_true = np.array([group_names.index(age_group(a)) for a in true_age])
    group_pred = np.array([group_names.index(age_group(a)) for a in age_pred])
    section = {
        "summary": {"age_mae": float(error.mean()), "gender_accuracy": float(correct.mean()),
                    "age_interval_coverage": float(((true_age >= low) & (true_age <= high)).mean()),
                    "age_group_accuracy": float((group_true == group_pred).mean()),
                    "validation_images": int(len(true_age)),
                    "validation_set": "UTKFace validation split (15 % by file-name hash; never "
                                      "trained on, chose no epoch)"},
        "age_mae_by_band": _grouped(error, bands, [b[0] for b in AGE_BANDS]),
        "gender_accuracy_by_race": _grouped(correct, races, [*RACES, "unknown"]),
        "gender_accuracy_by_gender": _grouped(correct, genders, GENDERS),
        "age_mae_by_race": _grouped(error, races, [*RACES, "unknown"]),
        "gender_confusion": {"labels": list(GENDERS),
                             "counts": confusion(true_gender, gender_pred, 2).tolist()},
        "training": _training_section(history, run, None, "min", "age_gender"),  # the last epoch ships
    }
    plot_confusion(confusion(true_gender, gender_pred, 2), list(GENDERS), "Gender, UTKFace validation",
                   reports_dir / "gender_confusion.png")
    plot_confusion(confusion(group_true, group_pred, len(group_names)), group_names,
                   "Age bracket, UTKFace validation", reports_dir / "age_group_confusion.png")
    draw_curves(reports_dir, "age_gender", history, run["restarts"])
    _plot_age_scatter(true_age, age_pred, reports_dir / "age_scatter.png")
    metrics = update_metrics(reports_dir, "age_gender", section)
    _write_card(reports_dir, metrics)
    print(f"age/gender: MAE {section['summary']['age_mae']:.2f}, "
          f"gender accuracy {section['summary']['gender_accuracy']:.4f}", flush=True)
    return section


def _plot_age_scatter(true_age: np.ndarray, predicted: np.ndarray, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.scatter(true_age, predicted, s=3, alpha=0.3)
    ax.plot([0, 100], [0, 100], "k--", lw=1)
    ax.set_xlabel("true age")
    ax.set_ylabel("predicted age")
    ax.set_title("Age, UTKFace validation")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _write_card(reports_dir: Path, metrics: dict) -> None:
    from faceinsight.training.model_card import write_model_card

    write_model_card(reports_dir, metrics)


def parse_args(argv: list[str] | None = None):
    """Set a trained model's figures in ``reports/`` when it ships.

    ``--fold CHAIN/reports/metrics.json --kind emotion``: a chain begun from the shipped model;
    its rounds follow the shipped ones. ``--run build/e19 --fer2013 DATA/fer2013 --checkpoint
    last.keras``: an emotion run of its own lineage, reported from the checkpoint that ships.
    """
    import argparse

    parser = argparse.ArgumentParser(description=parse_args.__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--fold", type=Path, help="the chain's metrics.json")
    source.add_argument("--run", type=Path, help="an emotion training folder whose checkpoint ships")
    parser.add_argument("--kind", choices=sorted(CURVES), default="emotion")
    parser.add_argument("--fer2013", type=Path, help="FER2013 folder (val/), with --run")
    parser.add_argument("--checkpoint", choices=ROUND_CHECKPOINTS, default="best.keras",
                        help="with --run: the checkpoint that ships")
    parser.add_argument("--cache", type=Path, default=Path(".cache"))
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    if args.run and (args.kind != "emotion" or not args.fer2013):
        parser.error("--run reports an emotion run and needs --fer2013")
    return args


def main(argv: list[str] | None = None) -> None:
    """Fold a chain's figures, or report a run's shipped checkpoint, into ``reports/``."""
    args = parse_args(argv)
    if args.run:
        from faceinsight.training.datasets import load_fer2013

        val = load_fer2013(args.fer2013, "val", args.cache)
        training = report_emotion(args.run, val, args.reports, args.checkpoint)["training"]
    else:
        training = fold_chain(args.reports, args.kind, args.fold)["training"]
    print(f"{args.kind}: {training['epochs']} epochs in {len(training['rounds'])} rounds")


if __name__ == "__main__":
    main()
