"""Measure the shipped models on the served path: faces in photos, through the server's code.

    python -m faceinsight.eval.evaluate --utkface PATH/TO/utkface --fer2013 PATH/TO/fer2013 \
        [--ferplus PATH/TO/ferplus] [--ckplus PATH/TO/ckplus48]

Validation faces (UTKFace's hashed 15 % split, FER2013's ``val/``) are feathered onto varied
backgrounds at several sizes and positions, two or three to a 640x480 photo, and also set in a
mirrored border on their own (:mod:`faceinsight.eval.scenes`). Each photo is JPEG-encoded and analysed by
:func:`faceinsight.analyze.analyze_bytes` (decode, detect, crop, models), exactly as the web API
and the CLI do. Beside each served figure stand two more answers on the same faces: the bare
crop (the chip fed straight to the model) and the true square (the decoded photo cut at the
square where the chip was placed, no detector). Served against true square is what the detector
and its calibrated crop cost; true square against bare is what the photo itself costs (the
feathered edge, resampling, JPEG). Beside those photos, two sets of tight crops, a face filling
the image as a saved crop, an avatar or an ID photo does: UTKFace's validation chips as they are
(their own 200 px JPEG files) and FER2013's ``val/`` faces enlarged to 192 px.

From another source than the training data: CK+'s posed faces of the held-out subjects
(:mod:`faceinsight.training.ckplus`), in photos and enlarged as FER2013's are; and FER2013's
``val/`` faces scored against FER+'s majority vote beside their original labels. Each emotion
set also says how often each class is predicted against how often it is true: a ratio far above
1 marks a catch-all class. Last, the in-photo sets again as a cheap camera saves them (a colour
cast, exposure, noise, soft focus, JPEG 30-75: :mod:`faceinsight.eval.camera`), the same faces
in the same places. Writes ``reports/served_eval.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from faceinsight import analyze, crops, images
from faceinsight.datasets import fer2013_paths, parse_utkface_name, utkface_names
from faceinsight.eval.camera import camera_photo
from faceinsight.eval.scenes import encode_jpeg, grouped_photos, in_mirrored_border, match
from faceinsight.labels import AGE_BANDS, EMOTIONS, GENDERS, age_band
from faceinsight.models import FaceModels, models_folder
from faceinsight.training.ckplus import read_rows
from faceinsight.training.ferplus import majority, read_votes

ENLARGED_SIDE = 192  # FER2013's 48 px faces enlarged to this side: a tight crop of a face


@dataclass
class Placed:
    """One face placed in a photo: where (its chip square) and its labels."""

    square: tuple[int, int, int]  # x, y, side
    labels: dict
    bare: dict = field(default_factory=dict)  # the model's answer on the bare chip


def true_square_answer(gray: np.ndarray, square: tuple[int, int, int], models: FaceModels) -> dict:
    """The models' answer on the photo cut exactly where a chip was placed (no detector)."""
    x, y, side = square
    face = crops.crops_for_box(gray, (x, y, side, side), crops.Framing())  # the box itself
    return analyze.read_face(face, models).dump()


def served_faces(photos: list, models: FaceModels) -> tuple[list[dict], dict]:
    """Run every photo through the served path; pair each placed face with its answer.

    :param photos: ``(image, [Placed, ...])`` pairs; an image is an RGB array (sent as a JPEG)
        or a file's bytes (sent as they are).
    :returns: one row per placed face (``found``, labels, served and bare answers) and the
        detection counts.
    """
    rows, false_positives, seconds = [], 0, 0.0
    for image, placed in photos:
        jpeg = image if isinstance(image, bytes) else encode_jpeg(image)
        started = time.perf_counter()
        result = analyze.analyze_bytes(jpeg, models=models)
        seconds += time.perf_counter() - started
        gray = images.to_gray(images.decode_image(jpeg))
        served_faces = [face.dump() for face in result.faces]
        boxes = [f["box"] for f in served_faces]
        pairs = match(boxes, [p.square for p in placed])
        false_positives += len(boxes) - len(pairs)
        for index, face in enumerate(placed):
            if face.square is None:
                continue
            served = served_faces[pairs[index]] if index in pairs else None
            rows.append({"found": served is not None, "side": face.square[2], **face.labels,
                         "served": served, "bare": face.bare,
                         "true_square": true_square_answer(gray, face.square, models)})
    return rows, {"photos": len(photos), "false_positives": false_positives,
                  "ms_per_photo": round(1000 * seconds / max(1, len(photos)), 1)}


def bare_answer(chip: np.ndarray, models: FaceModels) -> dict:
    face = crops.crops_for_whole_image(images.to_gray(chip))
    return analyze.read_face(face, models).dump()


def scene_photos(chips: list, labels: list[dict], models: FaceModels, rng) -> list:
    """Photos of 2-3 of the faces each (:func:`grouped_photos`), with each face's bare answer."""
    return [(image, [Placed(s, labels[i], bare_answer(chips[i], models))
                     for s, i in zip(squares, group, strict=True)])
            for image, squares, group in grouped_photos(chips, rng)]


def mirrored_photos(chips: list, labels: list[dict], models: FaceModels, rng) -> list:
    """Each face alone in a mirrored border (:func:`in_mirrored_border`), with its bare answer."""
    photos = []
    for chip, label in zip(chips, labels, strict=True):
        image, square = in_mirrored_border(chip, rng)
        photos.append((image, [Placed(square, label, bare_answer(chip, models))]))
    return photos


def camera_photos(photos: list, rng) -> list:
    """The same photos as a cheap camera saves them (:func:`camera_photo`), the same faces in
    each: beside the clean photos' figures, what the camera costs."""
    return [(camera_photo(image, rng), placed) for image, placed in photos]


def utkface_chips_as_they_are(folder: Path, count: int, models: FaceModels) -> list:
    """The first ``count`` UTKFace validation chips as their own files (200 px JPEGs, the face
    filling the image), each with its bare answer: a tight crop through the served path."""
    photos = []
    for name in utkface_names(folder, validation=True)[:count]:
        record = parse_utkface_name(name)
        data = images.read_image_file(folder / name)
        chip = images.decode_image(data)
        labels = {"age": record.age, "gender": record.gender}
        square = (0, 0, min(chip.shape[:2]))
        photos.append((data, [Placed(square, labels, bare_answer(chip, models))]))
    return photos


def enlarged_photos(chips: list, labels: list[dict], models: FaceModels) -> list:
    """Each face alone, enlarged to :data:`ENLARGED_SIDE` px and filling the image, with its
    bare answer: FER2013's tight 48 px faces as a tight crop of a larger photo."""
    photos = []
    for chip, label in zip(chips, labels, strict=True):
        image = cv2.resize(chip, (ENLARGED_SIDE, ENLARGED_SIDE), interpolation=cv2.INTER_CUBIC)
        photos.append((image, [Placed((0, 0, ENLARGED_SIDE), label, bare_answer(chip, models))]))
    return photos


EMOTION_SPLIT = ("FER2013 val/ (PublicTest; it chose the emotion model's checkpoints up to round 5, "
                 "its int8 calibration size, 1.4.0's ninth round over a tenth and round 14 over "
                 "rounds 13 and 15, and saw the choices between the networks of 1.1, 1.2.0, 1.3.0, "
                 "1.4.0 and rounds 10-22, and whether BlazeFace reads photos at their own "
                 "proportions (not shipped))")
AGE_GENDER_SPLIT = ("UTKFace validation split (15 % by file-name hash; never trained on and chose no "
                    "epoch, but it saw the choice between eleven age/gender candidates (1.1's two "
                    "rounds and a longer fine-tune, 1.3.0's four rounds framed as served, 1.4.0's "
                    "four rounds with faces pasted into photos), one view or two, three crop "
                    "calibrations, whether BlazeFace reads the photo in gray or at its own "
                    "proportions, and averages over wider views, a round that learnt them and "
                    "pairs of networks (measured after 1.4.0, none shipped), four rounds "
                    "with the FaceRes teacher (its weight chosen there; round 9), and rounds "
                    "10-13 with FaceRes and dlib as teachers and real photos' effects (round 12, "
                    "chosen on these photos and their camera copies), round 14 from scratch, "
                    "and warm restarts (two seeds from round 12, three from round 16b, one with "
                    "disputed gender labels corrected beside its control, and averages of "
                    "their weights; round 16b ships, the better seed here))")

CKPLUS_SPLIT = ("CK+ held-out subjects (about a quarter of the 118, by a hash of the subject id; "
                "the emotion model trained on the other subjects' faces, and these chose nothing)")

# Each face's three answers and the suffix of their figures: served, bare crop, true square.
ANSWERS = (("served", ""), ("bare", "_bare"), ("true_square", "_true_square"))


def age_gender_figures(rows: list[dict], min_side: int = 60) -> dict:
    """Recall, then age and gender on the faces found, served and bare, overall and by group."""
    big = [r for r in rows if r["side"] >= min_side]
    found = [r for r in big if r["found"]]

    def summary(subset: list[dict]) -> dict:
        if not subset:
            return {"faces": 0}
        true_age = np.array([r["age"] for r in subset])
        figures: dict = {"faces": len(subset)}
        for answer, suffix in ANSWERS:
            age = np.array([r[answer]["age"] for r in subset])
            right = np.array([r[answer]["gender"] == GENDERS[r["gender"]] for r in subset])
            figures[f"age_mae{suffix}"] = round(float(np.abs(age - true_age).mean()), 3)
            figures[f"gender_accuracy{suffix}"] = round(float(right.mean()), 4)
        inside = [r["served"]["age_range"][0] <= r["age"] <= r["served"]["age_range"][1] for r in subset]
        figures["age_range_coverage"] = round(float(np.mean(inside)), 4)
        return figures

    return {
        "recall": round(len(found) / max(1, len(big)), 4), "faces": len(big),
        "all": summary(found),
        "by_sex": {GENDERS[g]: summary([r for r in found if r["gender"] == g]) for g in (0, 1)},
        "by_band": {name: summary([r for r in found if age_band(r["age"]) == name])
                    for name, _, _ in AGE_BANDS},
    }


def emotion_figures(rows: list[dict], min_side: int = 60) -> dict:
    """Recall, then accuracy on the faces found (served, bare, true square), FER+ agreement
    where the faces have FER+ votes, and each class's predicted share over its true share."""
    big = [r for r in rows if r["side"] >= min_side]
    found = [r for r in big if r["found"]]
    figures = {"recall": round(len(found) / max(1, len(big)), 4), "faces": len(big)}
    for answer, suffix in ANSWERS:
        right = [r[answer]["emotion"] == r["emotion"] for r in found]
        figures[f"accuracy{suffix}"] = round(float(np.mean(right)), 4) if found else None
    voted = [r for r in found if r.get("ferplus")]
    if voted:
        figures["ferplus_faces"] = len(voted)
        for answer, suffix in ANSWERS[:2]:
            agreed = [r[answer]["emotion"] == r["ferplus"] for r in voted]
            figures[f"ferplus_agreement{suffix}"] = round(float(np.mean(agreed)), 4)
    if found:
        said = [r["served"]["emotion"] for r in found]
        figures["predicted_share"] = {name: round(said.count(name) / len(found), 4) for name in EMOTIONS}
        figures["predicted_over_true"] = predicted_over_true(found)
    return figures


def predicted_over_true(found: list[dict]) -> dict[str, float | None]:
    """Each class's share of the served answers over its share of the true labels (None for a
    class with no true face; ``predicted_share`` then says how often it is said): 1.0 is as
    often as it is true; far above 1, a catch-all."""
    truths = [r["emotion"] for r in found]
    said = [r["served"]["emotion"] for r in found]
    return {name: (round(said.count(name) / truths.count(name), 3) if truths.count(name) else None)
            for name in EMOTIONS}


def load_utkface_validation(folder: Path, count: int, rng) -> tuple[list, list[dict]]:
    names = utkface_names(folder, validation=True)
    chosen = rng.choice(names, min(count, len(names)), replace=False)
    chips, labels = [], []
    for name in chosen:
        record = parse_utkface_name(name)
        chips.append(images.load_image(folder / name))
        labels.append({"age": record.age, "gender": record.gender})
    return chips, labels


def load_fer_validation(folder: Path, count: int, rng, ferplus: Path | None = None
                        ) -> tuple[list, list[dict]]:
    """``count`` FER2013 ``val/`` faces and their labels; with FER+'s folder, each label also
    holds FER+'s majority class (``ferplus``; None where the annotators had no majority)."""
    paths = fer2013_paths(folder, "val")
    chosen = rng.choice(len(paths), min(count, len(paths)), replace=False)
    chips = [images.load_image(paths[i]) for i in chosen]
    labels = [{"emotion": paths[i].parent.name} for i in chosen]
    if ferplus:
        votes = read_votes(ferplus / "labels.csv")
        missing = np.zeros(len(EMOTIONS), np.float32)
        found = np.stack([votes.get(f"val/{paths[i].parent.name}/{paths[i].name}", missing) for i in chosen])
        for label, winner in zip(labels, majority(found), strict=True):
            label["ferplus"] = EMOTIONS[winner] if winner >= 0 else None
    return chips, labels


def load_ckplus_held_out(folder: Path) -> tuple[list, list[dict]]:
    """CK+'s faces of the held-out subjects (48 px, grey) and their emotions."""
    rows = read_rows(folder, held_out=True)
    return ([images.load_image(folder / path) for path, _, _ in rows],
            [{"emotion": EMOTIONS[label]} for _, label, _ in rows])


def ckplus_figures(folder: Path, models: FaceModels, rng) -> dict:
    """CK+'s held-out subjects in photos (2-3 to a photo) and enlarged (a tight crop)."""
    chips, labels = load_ckplus_held_out(folder)
    in_photos, _ = served_faces(scene_photos(chips, labels, models, rng), models)
    enlarged, _ = served_faces(enlarged_photos(chips, labels, models), models)
    return {"emotion_ckplus_in_photos": emotion_figures(in_photos),
            "emotion_ckplus_enlarged": emotion_figures(enlarged)}


def with_rate(counts: dict) -> dict:
    """Detection counts with the false detections per photo beside them."""
    return {**counts, "false_positives_per_photo": round(counts["false_positives"]
                                                         / max(1, counts["photos"]), 4)}


def evaluate(utkface: Path, fer2013: Path, models: FaceModels, faces: int, seed: int,
             ferplus: Path | None = None, ckplus: Path | None = None) -> dict:
    """Every served-path figure for one detector (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    chips, labels = load_utkface_validation(utkface, faces, rng)
    utk_photos = scene_photos(chips, labels, models, rng)
    scenes, scene_counts = served_faces(utk_photos, models)
    mirrored, _ = served_faces(mirrored_photos(chips, labels, models, rng), models)
    fer_chips, fer_labels = load_fer_validation(fer2013, faces, rng, ferplus)
    fer_photos = scene_photos(fer_chips, fer_labels, models, rng)
    fer_scenes, _ = served_faces(fer_photos, models)
    fer_mirrored, _ = served_faces(mirrored_photos(fer_chips, fer_labels, models, rng), models)
    # Tight crops last, drawing nothing from rng: the rows above stay as they were.
    chips_as_they_are, _ = served_faces(utkface_chips_as_they_are(utkface, faces, models), models)
    fer_enlarged, _ = served_faces(enlarged_photos(fer_chips, fer_labels, models), models)
    # Another source, then the camera rows, each on a generator of its own: the rows above
    # stay as they were.
    other = ckplus_figures(ckplus, models, np.random.default_rng(seed + 1)) if ckplus else {}
    camera_rng = np.random.default_rng(seed + 2)
    camera, camera_counts = served_faces(camera_photos(utk_photos, camera_rng), models)
    fer_camera, _ = served_faces(camera_photos(fer_photos, camera_rng), models)
    return {
        "detector": models.detector.name,
        "photos": with_rate(scene_counts),
        "age_gender_in_photos": age_gender_figures(scenes),
        "age_gender_mirrored_border": age_gender_figures(mirrored),
        "emotion_in_photos": emotion_figures(fer_scenes),
        "emotion_mirrored_border": emotion_figures(fer_mirrored),
        "age_gender_chips_as_they_are": age_gender_figures(chips_as_they_are),
        "emotion_enlarged": emotion_figures(fer_enlarged),
        **other,
        "camera_photos": with_rate(camera_counts),
        "age_gender_camera_photos": age_gender_figures(camera),
        "emotion_camera_photos": emotion_figures(fer_camera),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utkface", type=Path, required=True)
    parser.add_argument("--fer2013", type=Path, required=True)
    parser.add_argument("--faces", type=int, default=3000,
                        help="faces drawn from each dataset (3000: all of UTKFace's validation split)")
    parser.add_argument("--ferplus", type=Path, help="FER+'s folder (labels.csv): agreement beside")
    parser.add_argument("--ckplus", type=Path, help="ckplus48/: its held-out subjects, another source")
    parser.add_argument("--detectors", default="blazeface,haar")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("reports/served_eval.json"))
    args = parser.parse_args(argv)
    results = {
        "split": {"age_gender": AGE_GENDER_SPLIT, "emotion": EMOTION_SPLIT, "ckplus": CKPLUS_SPLIT},
        "seed": args.seed, "faces_drawn": args.faces, "detectors": {},
    }
    for name in args.detectors.split(","):
        models = FaceModels(models_folder(), detector=name)
        figures = evaluate(args.utkface, args.fer2013, models, args.faces, args.seed,
                           args.ferplus, args.ckplus)
        results["detectors"][name] = figures
        print(json.dumps(figures, indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
