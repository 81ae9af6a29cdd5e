"""BlazeFace's second look (where the first finds no face): faces found and false detections on
tight crops and images without a face, and the milliseconds it adds to an image without a face.

    python -m bench.bench_second_look --data DATA [--split train|val] [--count 1000] [--seed 3]
        [--tried] [--runs 11] [--timed 100]

Sets (``--split`` picks the faces; the images without a face differ by split, not by source):
UTKFace chips as they are (200 px JPEGs), the same chips cut by an edge, FER2013 faces enlarged
to 192 px, the evaluation's photos (two or three faces on a smooth background), and images
without a face (crops of scikit-image's pictures and of the evaluation's backgrounds). Each
detector is scored with the evaluation's rule (:func:`faceinsight.eval.scenes.match`). The
times are one thread's, the detectors interleaved image by image, so a busy machine slows
both alike.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from faceinsight import images
from faceinsight.boxes import scaled
from faceinsight.datasets import fer2013_paths, utkface_names
from faceinsight.detectors import BlazeFaceDetector, Detection
from faceinsight.eval import scenes
from faceinsight.models import MODELS_DIR, FaceModels

Scene = tuple[np.ndarray, list]  # an image and its faces' squares (x, y, side)
ENLARGED_SIDE = 192  # as make eval enlarges FER2013's faces
CUT_SHARE = (0.1, 0.25)  # a cut chip loses this share of its side at one or two edges


def _faceless_sources() -> list[np.ndarray]:
    """scikit-image's pictures without a person's face (the astronaut below her face), RGB."""
    from skimage import data

    pictures = [data.brick(), data.cell(), data.chelsea(), data.clock(), data.coffee(), data.coins(),
                data.colorwheel(), data.grass(), data.gravel(), data.horse(), data.hubble_deep_field(),
                data.immunohistochemistry(), data.logo()[..., :3], data.microaneurysms(), data.moon(),
                data.page(), data.retina(), data.rocket(), data.text(), data.stereo_motorcycle()[0],
                (data.shepp_logan_phantom() * 255), data.astronaut()[300:]]
    rgb = []
    for picture in pictures:
        picture = np.ascontiguousarray(picture.astype(np.uint8))
        rgb.append(cv2.cvtColor(picture, cv2.COLOR_GRAY2RGB) if picture.ndim == 2 else picture)
    return rgb


def faceless_images(count: int, rng: np.random.Generator) -> list[Scene]:
    """``count`` images without a face: random crops (30-100 % of the shorter side, aspect
    3:4 to 4:3) of scikit-image's pictures or of the evaluation's backgrounds, at 100-480 px,
    a fifth in grey."""
    sources = _faceless_sources()
    made: list[Scene] = []
    while len(made) < count:
        source = sources[len(made) % len(sources)] if rng.random() < 0.8 else scenes.background(rng)
        height, width = source.shape[:2]
        side = rng.uniform(0.3, 1.0) * min(height, width)
        aspect = np.exp(rng.uniform(np.log(0.75), np.log(4 / 3)))
        crop_w, crop_h = int(min(width, side * aspect)), int(min(height, side / aspect))
        x, y = int(rng.integers(0, width - crop_w + 1)), int(rng.integers(0, height - crop_h + 1))
        crop = source[y:y + crop_h, x:x + crop_w]
        longer = rng.uniform(100, 480)
        size = (max(1, round(crop_w * longer / max(crop_w, crop_h))),
                max(1, round(crop_h * longer / max(crop_w, crop_h))))
        image = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        if rng.random() < 0.2:
            image = cv2.cvtColor(images.to_gray(image), cv2.COLOR_GRAY2RGB)
        made.append((np.ascontiguousarray(image), []))
    return made


def utkface_chips(folder: Path, split: str, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` UTKFace chips of the split, decoded from their own files (all of them: 0)."""
    names = utkface_names(folder, validation=split == "val")
    chosen = names if not count or count >= len(names) else rng.choice(names, count, replace=False)
    return [images.load_image(folder / name) for name in chosen]


def cut_by_an_edge(chip: np.ndarray, rng: np.random.Generator) -> Scene:
    """The chip with 10-25 % of its side cut off at one edge, or at two that meet."""
    side = chip.shape[0]
    edges = rng.choice(4, int(rng.integers(1, 3)), replace=False)
    if len(edges) == 2 and abs(int(edges[0]) - int(edges[1])) == 2:  # opposite: make them meet
        edges[1] = (edges[0] + 1) % 4
    cuts = [0, 0, 0, 0]  # left, top, right, bottom
    for edge in edges:
        cuts[int(edge)] = int(rng.uniform(*CUT_SHARE) * side)
    left, top, right, bottom = cuts
    return chip[top:side - bottom, left:side - right].copy(), [(-left, -top, side)]


def fer_enlarged(folder: Path, split: str, count: int, rng: np.random.Generator) -> list[Scene]:
    """``count`` FER2013 faces of the split (``train`` or ``val``) enlarged to 192 px."""
    paths = fer2013_paths(folder, split)
    chosen = rng.choice(len(paths), min(count, len(paths)), replace=False)
    return [(cv2.resize(images.load_image(paths[i]), (ENLARGED_SIDE, ENLARGED_SIDE),
                        interpolation=cv2.INTER_CUBIC), [(0, 0, ENLARGED_SIDE)]) for i in chosen]


def face_sets(data: Path, split: str, count: int, seed: int) -> dict[str, list[Scene]]:
    """Every set the bench scores, for one split; ``count`` chips (0: all of the split's)."""
    rng = np.random.default_rng(seed)
    chips = utkface_chips(data / "utkface", split, count, rng)
    photo_chips = [chips[i] for i in rng.choice(len(chips), min(len(chips), 600), replace=False)]
    return {
        "chips": [(chip, [(0, 0, chip.shape[0])]) for chip in chips],
        "cut chips": [cut_by_an_edge(chip, rng) for chip in chips[:800]],
        "FER enlarged": fer_enlarged(data / "fer2013", split, 1500, rng),
        "in photos": [(image, squares) for image, squares, _ in scenes.grouped_photos(photo_chips, rng)],
        "faceless": faceless_images(400, np.random.default_rng([seed, split == "val"])),
    }


def score(looks: dict[str, BlazeFaceDetector], sets: dict[str, list[Scene]]) -> dict[str, dict]:
    """Per detector, each set's (faces found share, false detections an image). The detectors
    differ only in their second look, so the first look runs once an image, and each second
    look where it found no face (as :meth:`BlazeFaceDetector.detect_scored` does)."""
    first_look = next(iter(looks.values()))
    counts = {look: {name: [0, 0, 0] for name in sets} for look in looks}  # found, faces, false
    for name, scenes_ in sets.items():
        for image, squares in scenes_:
            first = first_look.detect_scored(image, second_look=False)
            for look, detector in looks.items():
                found = first or (detector._padded_look(image) if detector.close else [])
                boxes = [d.box for d in found]
                pairs = scenes.match(boxes, squares)
                tally = counts[look][name]
                tally[0], tally[1], tally[2] = (tally[0] + len(pairs), tally[1] + len(squares),
                                                tally[2] + len(boxes) - len(pairs))
    return {look: {name: (found / faces if faces else None, false / len(sets[name]))
                   for name, (found, faces, false) in tallies.items()} for look, tallies in counts.items()}


class FullRangeSecondLook(BlazeFaceDetector):
    """The second look before the short-range model: the full-range model itself on a copy
    padded by a quarter of its longer side with its edge pixels repeated (the 192 px input),
    its boxes through the first look's score and Haar rules, kept from 40 % of that side."""

    def _padded_look(self, image: np.ndarray, seen=None) -> list[Detection]:  # shrinks the image itself
        small, factor = images.bounded_copy(image, round(self.full.size / (1 + 2 * self.PADDED_BORDER)))
        pad = max(1, round(self.PADDED_BORDER * max(small.shape[:2])))
        padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        smallest = self.PADDED_MIN_SHARE * max(small.shape[:2])
        return [Detection(scaled((x - pad, y - pad, w, h), factor), found.score)
                for found in self.detect_scored(padded, second_look=False)
                for x, y, w, h in [found.box] if max(w, h) >= smallest]


# Short-range second looks tried (the served class's settings changed): border share and pixels,
# the score kept alone, the score kept where the Haar check confirms.
SHORT_RANGE_TRIED = (("no border", 0.0, cv2.BORDER_CONSTANT, 0.5, 0.15),
                     ("edge repeated", 0.25, cv2.BORDER_REPLICATE, 0.5, 0.15),
                     ("black border", 0.25, cv2.BORDER_CONSTANT, 0.5, 0.5),
                     ("black border", 0.25, cv2.BORDER_CONSTANT, 0.6, 0.4),
                     ("black border", 0.25, cv2.BORDER_CONSTANT, 0.8, 0.4))


def detectors(models: FaceModels, tried: bool) -> dict[str, BlazeFaceDetector]:
    """The first look alone, the full-range second look, the detector as served and, if
    ``tried``, the other short-range looks (:data:`SHORT_RANGE_TRIED`)."""
    served = models.detector
    looks = {"first look only": BlazeFaceDetector(served.model),
             "full-range, edge repeated": FullRangeSecondLook(served.model, served.short_range),
             "served": served}
    for label, border, mode, sure, least in SHORT_RANGE_TRIED if tried else ():
        settings = {"PADDED_BORDER": border, "PADDED_MODE": mode, "PADDED_SURE_SCORE": sure,
                    "PADDED_MIN_SCORE": least}
        looks[f"short-range, {label}, {sure} (Haar from {least})"] = type(
            "Tried", (BlazeFaceDetector,), settings)(served.model, served.short_range)
    return looks


def added_ms(detectors_: dict[str, BlazeFaceDetector], faceless: list[Scene], runs: int) -> dict:
    """Per detector, the milliseconds each image took over the first look alone (median of
    ``runs`` runs of :meth:`BlazeFaceDetector.detect_scored`, one thread, the detectors taking
    turns image by image): their mean over the images, and over those where a second look ran."""
    times = {name: np.zeros((len(faceless), runs)) for name in detectors_}
    for run in range(runs):
        for index, (image, _) in enumerate(faceless):
            for name, detector in detectors_.items():
                start = time.perf_counter()
                detector.detect_scored(image)
                times[name][index, run] = time.perf_counter() - start
    medians = {name: np.median(t, axis=1) * 1000 for name, t in times.items()}
    first, looked = medians["first look only"], np.array([
        not next(iter(detectors_.values())).detect_scored(image) for image, _ in faceless])
    return {name: (float(np.mean(m - first)), float(np.mean((m - first)[looked])) if looked.any() else 0.0,
                   float(np.median(m))) for name, m in medians.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding utkface/ and fer2013/")
    parser.add_argument("--split", choices=("train", "val"), default="train",
                        help="the faces' split (thresholds are chosen on train)")
    parser.add_argument("--count", type=int, default=1000, help="UTKFace chips (0: all of the split's)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--runs", type=int, default=11, help="timed runs of each image without a face")
    parser.add_argument("--timed", type=int, default=100, help="images without a face timed")
    parser.add_argument("--tried", action="store_true", help="also score the other short-range looks")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    sets = face_sets(args.data, args.split, args.count, args.seed)
    candidates = detectors(FaceModels(MODELS_DIR, detector="blazeface"), args.tried)
    print(f"{args.split} split; faces found / false detections an image ("
          + ", ".join(f"{name}: {len(s)}" for name, s in sets.items()) + ")")
    print("| second look | " + " | ".join(sets) + " |\n" + "| --- " * (len(sets) + 1) + "|")
    for name, figures in score(candidates, sets).items():
        print(f"| {name} | " + " | ".join(
            (f"{found:.3f} / " if found is not None else "") + f"{false:.3f}"
            for found, false in figures.values()) + " |", flush=True)
    candidates = {name: candidates[name] for name in list(candidates)[:3]}  # timed: the first three
    timed = sets["faceless"][:args.timed]
    print(f"\nms an image without a face over the first look alone ({len(timed)} images, "
          f"median of {args.runs} runs each, one thread): mean over all, over those looked at "
          f"again; median ms an image")
    for name, (mean, looked, median) in added_ms(candidates, timed, args.runs).items():
        print(f"  {name}: +{mean:.2f} ms, +{looked:.2f} ms where looked again; {median:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
