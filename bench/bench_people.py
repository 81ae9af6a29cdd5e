"""People in videos: how often joining tracks into people merges two people or splits one.

Makes clips of three people who each leave and come back twice, from CK+ (``ckplus48/``: 48 px
grey crops of 118 subjects, several sequences each, so each appearance shows a different image of
the same subject: a real re-identification test), each appearance also changed in size,
brightness, rotation and framing and drifting over a moving background. In every other clip the
three take turns (never two in one frame, so that only appearance tells them apart); in the
others they overlap. Each clip is written as an MJPG .avi into a temporary
folder and analysed by the served path (:func:`faceinsight.video.analysis.analyze_video`).

The subjects are split in two halves by their sorted ids (even positions: tuning, odd:
report): the join threshold is chosen on the tuning half's clips, the figures are those of the
report half's clips. Per clip: people found (3 is right), merges (a result person holding two
true people: one per extra true person) and splits (one true person in several result people:
one per extra result person), for the people and for the tracks alone (the baseline).

    python -m bench.bench_people --data /work/shared/data
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceinsight.boxes import iou
from faceinsight.models import get_models
from faceinsight.video.analysis import analyze_video
from faceinsight.video.people import JOIN_DISTANCE, PeopleJoiner

FPS = 10.0  # the clips' frame rate
SAMPLE_FPS = 2.0  # the rate they are analysed at (the page's default)
WIDTH, HEIGHT = 800, 360
SLOTS = (130, 310, 490, 670)  # where a face's centre starts, in pixels from the left
ROUND_S = 8.0  # each person appears once per round, three rounds
SAME_PLACE_S = 2.0  # another person never takes a place sooner than this after one left it
THRESHOLDS = tuple(round(0.025 * i, 3) for i in range(8, 37))


@dataclass(frozen=True)
class Appearance:
    """One stay of one person in the picture."""

    person: int  # 0, 1 or 2
    start_s: float
    end_s: float
    slot: int
    face: np.ndarray  # the changed face image, grey, at its size in the clip
    drift: tuple[float, float]  # pixels per second


def subjects_images(root: Path) -> dict[str, list[Path]]:
    """Each CK+ subject's images, one per sequence first (its last, peak frame), then the rest.

    :param root: the ``ckplus48`` folder.
    """
    by_sequence: dict[tuple[str, str], list[Path]] = defaultdict(list)
    with open(root / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            by_sequence[row["subject"], row["sequence"]].append(root / row["path"])
    images: dict[str, list[Path]] = defaultdict(list)
    rest: dict[str, list[Path]] = defaultdict(list)
    for (subject, _), paths in sorted(by_sequence.items()):
        paths.sort()
        images[subject].append(paths[-1])
        rest[subject] += paths[:-1]
    return {subject: images[subject] + rest[subject] for subject in images}


def changed_face(path: Path, rng: np.random.Generator) -> np.ndarray:
    """A CK+ image as one appearance shows it: cropped a little differently, turned by a few
    degrees, brighter or darker and enlarged to 110-150 px.

    :param path: the 48 px image.
    :param rng: the clip's random numbers.
    """
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    left, top = rng.integers(0, 4, 2)
    cut = grey[top:top + 48 - rng.integers(0, 4), left:left + 48 - rng.integers(0, 4)]
    side = int(rng.integers(110, 151))
    face = cv2.resize(cut, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    turn = cv2.getRotationMatrix2D((side / 2, side / 2), float(rng.uniform(-6, 6)), 1.0)
    face = cv2.warpAffine(face, turn, (side, side), borderMode=cv2.BORDER_REPLICATE)
    return np.clip(face * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20), 0, 255).astype(np.uint8)


def plan_clip(images: list[list[Path]], rng: np.random.Generator, turns: bool) -> list[Appearance]:
    """Three rounds in which each of three people appears once, in one of four places: at
    overlapping times, or (``turns``) one after the other, never two at once.

    :param images: each person's images (a different one per appearance where there are enough).
    :param rng: the clip's random numbers.
    :param turns: the people take turns (the harder case: no frame shows two of them together).
    """
    while True:
        plan = []
        for round_ in range(3):
            slots, order = rng.permutation(len(SLOTS))[:3], rng.permutation(3)
            for person in range(3):
                if turns:
                    start = round_ * ROUND_S + order[person] * ROUND_S / 3 + rng.uniform(0, 0.3)
                    end = start + rng.uniform(1.8, ROUND_S / 3 - 0.4)
                else:
                    start = round_ * ROUND_S + rng.uniform(0, 3.0)  # so not every two meet
                    end = start + rng.uniform(2.0, 3.5)
                plan.append((person, start, end, int(slots[person]), round_))
        if not _taken_too_soon(plan):
            break
    return [Appearance(person, start, end, slot,
                       changed_face(images[person][round_ % len(images[person])], rng),
                       (float(rng.uniform(-15, 15)), float(rng.uniform(-5, 5))))
            for person, start, end, slot, round_ in plan]


def _taken_too_soon(plan: list[tuple]) -> bool:
    """Whether a place is taken by someone else less than :data:`SAME_PLACE_S` after one left."""
    return any(a[3] == b[3] and a[0] != b[0] and 0 <= b[1] - a[2] < SAME_PLACE_S for a in plan for b in plan)


def background(rng: np.random.Generator) -> np.ndarray:
    """A smooth colour texture wider than the frame, to slide under the faces."""
    small = rng.integers(40, 200, (6, 20, 3)).astype(np.uint8)
    return cv2.resize(small, (WIDTH * 2, HEIGHT), interpolation=cv2.INTER_CUBIC)


Truth = list[list[tuple[int, list[int]]]]  # each frame's pasted faces: (person, box)


def write_clip(path: Path, plan: list[Appearance], rng: np.random.Generator) -> Truth:
    """Write the clip; returns each frame's true faces as ``(person, box)``.

    :param path: the .avi file.
    :param plan: the appearances.
    :param rng: the clip's random numbers (the background).
    """
    texture = background(rng)
    frames = int(3 * ROUND_S * FPS)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    truth = []
    for index in range(frames):
        time_s = index / FPS
        shift = int(index * 3) % WIDTH
        frame = np.ascontiguousarray(texture[:, shift:shift + WIDTH])
        faces = []
        for seen in plan:
            if not seen.start_s <= time_s < seen.end_s:
                continue
            side = seen.face.shape[0]
            x = int(SLOTS[seen.slot] - side / 2 + seen.drift[0] * (time_s - seen.start_s))
            y = int((HEIGHT - side) / 2 + seen.drift[1] * (time_s - seen.start_s))
            frame[y:y + side, x:x + side] = seen.face[..., None]
            faces.append((seen.person, [x, y, side, side]))
        writer.write(frame)
        truth.append(faces)
    writer.release()
    return truth


def true_person(box: list[int], truth: list[tuple[int, list[int]]]) -> int | None:
    """The pasted face a found box lies on (IoU at least 0.3), or None (a false face)."""
    overlap, person = max(((iou(box, pasted), person) for person, pasted in truth), default=(0.0, None))
    return person if overlap >= 0.3 else None


def score(pairs: list[tuple[int, int]]) -> tuple[int, int, int]:
    """People found, merges and splits for ``(true person, result id)`` pairs, one per face."""
    people_of: dict[int, set[int]] = defaultdict(set)
    results_of: dict[int, set[int]] = defaultdict(set)
    for person, result in pairs:
        people_of[result].add(person)
        results_of[person].add(result)
    merges = sum(len(people) - 1 for people in people_of.values())
    splits = sum(len(results) - 1 for results in results_of.values())
    return len(people_of), merges, splits


@dataclass
class Clip:
    """One analysed clip: its faces' (true person, track) pairs and the joiner to re-join."""

    pairs: list[tuple[int, int]]
    joiner: PeopleJoiner

    def people(self, threshold: float) -> tuple[int, int, int]:
        person_of = self.joiner.join(threshold)
        return score([(person, person_of[track]) for person, track in self.pairs])

    def tracks(self) -> tuple[int, int, int]:
        return score(self.pairs)


def analyse_clips(subjects: list[str], images: dict[str, list[Path]], count: int, seed: int,
                  folder: Path) -> list[Clip]:
    """Make and analyse ``count`` clips of three of ``subjects`` each.

    :param subjects: the half's subjects.
    :param images: every subject's images.
    :param count: clips to make.
    :param seed: the random seed of the first clip (the next ones count up).
    :param folder: where the clips are written.
    """
    clips = []
    for number in range(count):
        rng = np.random.default_rng(seed + number)
        chosen = rng.choice(subjects, 3, replace=False)
        path = folder / f"clip{seed + number}.avi"
        truth = write_clip(path, plan_clip([images[s] for s in chosen], rng, turns=number % 2 == 1), rng)
        joiner = PeopleJoiner()
        results = analyze_video(str(path), SAMPLE_FPS, models=get_models(), people=joiner)
        pairs = []
        for frame in results["frames"]:
            for face in frame["faces"]:
                person = true_person(face["box"], truth[frame["source_frame"]])
                if person is not None:
                    pairs.append((person, face["track"]))
        clips.append(Clip(pairs, joiner))
    return clips


def totals(figures: list[tuple[int, int, int]]) -> str:
    """A line of totals: clips right (no merge, no split), with 3 people found, and the sums."""
    right = sum(merges == 0 and splits == 0 for _, merges, splits in figures)
    return (f"right {right}/{len(figures)}, 3 found {sum(found == 3 for found, _, _ in figures)}, "
            f"found {sum(found for found, _, _ in figures)} for {3 * len(figures)} true, "
            f"merges {sum(m for _, m, _ in figures)}, splits {sum(s for _, _, s in figures)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the data folder (holds ckplus48/)")
    parser.add_argument("--clips", type=int, default=30, help="clips per half")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    images = subjects_images(args.data / "ckplus48")
    ordered = sorted(images)
    tune, report = ordered[0::2], ordered[1::2]
    with tempfile.TemporaryDirectory() as folder:
        tuning = analyse_clips(tune, images, args.clips, args.seed, Path(folder))
        figures = {t: [clip.people(t) for clip in tuning] for t in THRESHOLDS}
        errors = {t: (sum(m for _, m, _ in f), sum(s for _, _, s in f)) for t, f in figures.items()}
        chosen = min(THRESHOLDS, key=lambda t: (sum(errors[t]), errors[t][0]))  # then fewer merges
        print(f"tuning half ({len(tune)} subjects, {args.clips} clips)")
        for t in THRESHOLDS:
            print(f"  {t:.3f}: {totals(figures[t])}")
        print(f"chosen {chosen:.3f}" + ("" if chosen == JOIN_DISTANCE else
                                         f"; people.JOIN_DISTANCE is {JOIN_DISTANCE:.3f}: update it"))
        reported = analyse_clips(report, images, args.clips, args.seed + 10_000, Path(folder))
    print(f"\nreport half ({len(report)} subjects, {args.clips} clips of 3 people, each seen 3 times), "
          f"threshold {chosen:.3f}")
    print("clip  people found (tracks)  merges (tracks)  splits (tracks)")
    people = [clip.people(chosen) for clip in reported]
    tracks = [clip.tracks() for clip in reported]
    for number, (p, t) in enumerate(zip(people, tracks, strict=True)):
        print(f"{number:4d}  {p[0]:5d} ({t[0]:2d})          {p[1]:4d} ({t[1]:2d})        "
              f"{p[2]:4d} ({t[2]:2d})")
    for name, figures in (("people", people), ("tracks", tracks)):
        print(f"{name}: {totals(figures)}")
        print(f"  together: {totals(figures[0::2])}\n  taking turns: {totals(figures[1::2])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
