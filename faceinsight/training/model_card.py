"""Write reports/MODEL_CARD.md from its template (``model_card.md.j2``) and the measured figures,
so the card always shows real ones."""

from __future__ import annotations

import json
from pathlib import Path


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _most_said(figures: dict) -> str:
    """The class said most often against how often it is true (``predicted_over_true``), as
    "angry 1.73x"; a class said for faces that never show it reads "neutral (none true)"."""
    ratios = figures.get("predicted_over_true") or {}
    unbacked = [name for name, ratio in ratios.items()
                if ratio is None and figures.get("predicted_share", {}).get(name)]
    if unbacked:
        return f"{unbacked[0]} (none true)"
    known = {name: ratio for name, ratio in ratios.items() if ratio is not None}
    if not known:
        return "n/a"
    name = max(known, key=known.get)
    return f"{name} {known[name]:.2f}x"


def _table(rows: dict, header: str, fmt) -> list[str]:
    lines = [f"| {header} | value | images |", "| --- | --- | --- |"]
    lines += [f"| {name} | {fmt(row['value'])} | {row['count']} |" for name, row in rows.items()]
    return lines


def _status(value: float, target: float, floor: float, higher_is_better: bool) -> str:
    def beats(limit: float) -> bool:
        return value >= limit if higher_is_better else value <= limit

    if beats(target):
        return "meets target"
    return "meets floor, below target" if beats(floor) else "BELOW FLOOR"


def _round_text(training_round: dict) -> str:
    args = training_round.get("args") or {}
    threads = args.get("threads", "0")
    where = "all cores" if threads in ("0", None) else f"{threads} thread{'s' * (threads != '1')}"
    if not str(training_round.get("device", "CPU")).startswith("CPU"):
        where = str(training_round["device"])
    return (f"{training_round.get('epochs')} epochs at peak learning rate {args.get('learning_rate')} "
            f"({where}, {(training_round.get('seconds') or 0) / 60:.0f} minutes)"
            f"{_augmentation_text(args)}")


def _augmentation_text(args: dict) -> str:
    """The optional augmentations a round used, beyond flips, shifts and contrast."""
    def value(key: str) -> float:
        return float(args.get(key) or 0)

    def given(key: str) -> bool:  # a path argument (run.json writes an absent one as "None")
        return args.get(key) not in (None, "None")

    parts = []
    if value("rotate"):
        parts.append(f"rotation up to {value('rotate'):g}°")
    if value("zoom"):
        parts.append(f"zoom up to {value('zoom') * 100:g} %")
    if given("detector_framing"):
        parts.append("each face framed as served (the served detector's box, the model's geometry)")
    if value("box_scale") or value("box_shift") or value("box_rotate"):
        parts.append(f"the box varied as a detector varies it (side +-{value('box_scale') * 100:g} %, "
                     f"centre +-{value('box_shift') * 100:g} %, rotation +-{value('box_rotate'):g}°)")
    if value("paste"):
        parts.append(f"{value('paste') * 100:g} % of faces pasted into a photo (feathered onto a smooth "
                     "random background, as the served-path evaluation builds its photos)")
    if value("background"):  # drawn only for the faces not pasted
        share = value("background") * (1 - value("paste"))
        parts.append(f"another image's blurred content around {share * 100:.3g} % of faces")
    if value("low_resolution"):
        parts.append(f"{value('low_resolution') * 100:g} % of faces at a lower resolution")
    if given("ferplus"):
        parts.append(f"FER+'s ten annotators' votes mixed into the targets at {value('soft_weight'):g}")
    if given("ckplus"):
        parts.append(f"CK+'s training subjects' faces ({value('ckplus_repeat'):g} times an epoch)")
    if given("teacher"):
        names = [Path(name).name for name in str(args["teacher"]).split()]
        whose = "a teacher's readings" if len(names) == 1 else "teachers' readings, averaged,"
        parts.append(f"{whose} ({', '.join(names)}) mixed into the targets at {value('teacher_weight'):g}")
    if given("utkface"):
        count = f"{value('utkface_count'):,.0f} of " if value("utkface_count") else ""
        names = ", ".join(Path(name).name for name in str(args.get("utkface_teacher", "")).split())
        parts.append(f"{count}UTKFace's training faces, which have no emotion labels, their targets "
                     f"the teachers' readings averaged ({names})")
    if value("photo_effects"):
        parts.append(f"real photos' effects on {value('photo_effects') * 100:g} % of faces (exposure, "
                     "blur, sensor noise, JPEG, a turn, a hand or dark glasses)")
    if value("erase"):
        share = "half the crops" if value("erase") == 0.5 else f"{value('erase') * 100:g} % of crops"
        parts.append(f"random erasing ({share})")
    if not parts:
        return ""
    listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return f" with {listed}"


def checkpoint_epoch(path: Path) -> int | None:
    """The epoch number in a per-epoch checkpoint's name (``epoch_13.keras``), else None."""
    prefix, _, number = path.stem.partition("_")
    return int(number) if path.suffix == ".keras" and prefix == "epoch" and number.isdigit() else None


def _start_text(args: dict) -> str:
    """Which checkpoint of the previous round a round started from (its ``--init-weights``)."""
    path = Path(str(args.get("init_weights") or "best.keras"))
    if path.name == "best.keras":
        return "best checkpoint"
    if path.name == "last.keras":
        return "last epoch"
    epoch = checkpoint_epoch(path)
    return f"epoch {epoch}" if epoch is not None else f"checkpoint {path.name}"


def _training_line(section: dict) -> str:
    training = section.get("training", {})
    rounds = training.get("rounds") or [training]
    minutes = (training.get("seconds") or 0) / 60
    shipped = f"the shipped checkpoint is epoch {training.get('best_epoch')}"
    if len(rounds) == 1:
        return f"Trained for {_round_text(rounds[0])}; {shipped}."
    # Later rounds restart from a checkpoint of the one before, with a new schedule.
    how = _round_text(rounds[0]) + "".join(
        f"; then, from that round's {_start_text(r.get('args') or {})} with a fresh schedule, "
        f"{_round_text(r)}" for r in rounds[1:])
    return (f"Trained for {training.get('epochs')} epochs in {minutes:.0f} minutes, "
            f"in {len(rounds)} rounds: {how}; {shipped}.")


def write_model_card(reports_dir: Path, metrics: dict) -> Path:
    """Render ``model_card.md.j2`` from the served-path figures and the models' own metrics."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent), keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined)
    environment.filters.update(pct=_pct, training_line=_training_line, most_said=_most_said)
    served = reports_dir / "served_eval.json"
    card = environment.get_template("model_card.md.j2").render(
        served=json.loads(served.read_text()) if served.exists() else None,
        age_gender=metrics.get("age_gender"), emotion=metrics.get("emotion"),
        targets=metrics["targets"], floor=metrics["floor"], status=_status)
    path = reports_dir / "MODEL_CARD.md"
    path.write_text(card)
    return path
