"""People in a video: face tracks of the same person joined across gaps, turns and exits.

The tracker (:mod:`faceinsight.video.tracking`) links a face from one sampled frame to the next;
a face that turns away, leaves or is hidden for a while starts a new track when it comes back.
:class:`PeopleJoiner` collects each track's evidence while the video is analysed (its faces'
appearance, the gender model's reading, where and when it was seen) and afterwards joins tracks
into people, closest first (average linkage over the tracks' pairwise distances), by appearance
above all:

* appearance: a grid of uniform local-binary-pattern histograms of the face's age/gender crop
  (the 128 px equalised crop the models read, :mod:`faceinsight.crops`), averaged over the track;
  on CK+ it tells two images of one person from two people with an ROC AUC of 0.96 (different
  expressions of the same subject against other subjects);
* the gender model's reading as soft evidence: the further apart two tracks' mean P(female),
  the further apart they are held (on the bench it lifts the ROC AUC of telling a track pair of
  one person from two from 0.915 to 0.931; the age model's reading lowered it, so it is not used);
* position: a track that starts where another ended, shortly after, is held closer (a face that
  turned away and back; the bench does not measure it);
* a hard rule: two tracks seen in the same frame are never one person.

The threshold was tuned with ``python -m bench.bench_people`` on one half of CK+'s subjects
and measured on the other (docs/MODELS.md, "People in videos").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from faceinsight.labels import female_probability

JOIN_DISTANCE = 0.32  # people closer than this are joined (bench_people's tuning half)
GENDER_WEIGHT = 0.05  # added per unit of difference between the mean P(female)s
NEAR_GAP_SAMPLES = 10  # a track starting this soon after another ended, within a box side of
NEAR_BONUS = 0.02  # where it ended, is held this much closer (a face that turned away and back)

_GRID = 8  # cells a side of the descriptor's histogram grid
_SIDE = 96  # the crop is read at this side (cells of 12 px)
_UNIFORM_BINS = 59  # 58 uniform 8-neighbour patterns and one bin for all the others


def _uniform_lookup() -> np.ndarray:
    """Each 8-bit LBP code's bin: its own for the 58 uniform codes (at most two 0/1 changes
    around the circle), the last one for the rest."""
    table = np.full(256, _UNIFORM_BINS - 1, np.uint8)
    uniform = [code for code in range(256)
               if sum(((code >> i) & 1) != ((code >> ((i + 1) % 8)) & 1) for i in range(8)) <= 2]
    table[uniform] = np.arange(len(uniform), dtype=np.uint8)
    return table


_UNIFORM = _uniform_lookup()
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def face_descriptor(crop: np.ndarray) -> np.ndarray:
    """A face's appearance as a unit vector: square-rooted uniform-LBP histograms of an 8x8 grid.

    :param crop: the face's equalised grayscale crop (the age/gender model's input).
    """
    image = cv2.resize(crop, (_SIDE + 2, _SIDE + 2), interpolation=cv2.INTER_AREA).astype(np.int16)
    centre = image[1:-1, 1:-1]
    codes = np.zeros(centre.shape, np.uint8)
    for bit, (dy, dx) in enumerate(_NEIGHBOURS):
        neighbour = image[1 + dy:image.shape[0] - 1 + dy, 1 + dx:image.shape[1] - 1 + dx]
        codes |= (neighbour >= centre).astype(np.uint8) << bit
    bins = _UNIFORM[codes]
    cell = _SIDE // _GRID
    cells = bins.reshape(_GRID, cell, _GRID, cell).transpose(0, 2, 1, 3).reshape(_GRID * _GRID, -1)
    offsets = np.arange(_GRID * _GRID)[:, None] * _UNIFORM_BINS
    counts = np.bincount((cells + offsets).ravel(), minlength=_GRID * _GRID * _UNIFORM_BINS)
    vector = np.sqrt(counts.astype(np.float32) / (cell * cell))  # Hellinger: sqrt of each cell's histogram
    return vector / np.linalg.norm(vector)


@dataclass
class _Track:
    """What one track's faces showed so far."""

    samples: set[int]
    appearance: np.ndarray  # the sum of its faces' descriptors
    faces: int
    female: float  # the sum of its faces' P(female)
    first: tuple[int, list[int]]  # (sample, box) where it was first seen
    last: tuple[int, list[int]]  # and last

    def merge(self, other: _Track) -> None:
        """Add ``other``'s evidence (a later face of the same track)."""
        self.samples |= other.samples
        self.appearance = self.appearance + other.appearance
        self.faces += other.faces
        self.female += other.female
        self.first = min(self.first, other.first, key=lambda seen: seen[0])
        self.last = max(self.last, other.last, key=lambda seen: seen[0])


def _centre_distance(before: _Track, after: _Track) -> float:
    """How far ``after`` first appeared from where ``before`` was last seen, in box sides."""
    box, next_box = before.last[1], after.first[1]
    side = (max(box[2:]) + max(next_box[2:])) / 2
    return math.dist((box[0] + box[2] / 2, box[1] + box[3] / 2),
                     (next_box[0] + next_box[2] / 2, next_box[1] + next_box[3] / 2)) / max(side, 1)


def distances(tracks: list[_Track]) -> np.ndarray:
    """How unlike each two tracks are: 1 - the cosine of their mean appearances, plus the soft
    evidence of the gender model's reading and of position (see the module's docstring);
    infinite for two tracks seen in the same frame (and on the diagonal).

    :param tracks: the tracks' evidence.
    :returns: a symmetric n x n matrix.
    """
    means = np.stack([t.appearance / np.linalg.norm(t.appearance) for t in tracks])
    female = np.array([t.female / t.faces for t in tracks])
    gaps = 1.0 - means @ means.T + GENDER_WEIGHT * np.abs(female[:, None] - female[None, :])
    starts = np.array([t.first[0] for t in tracks])
    ends = np.array([t.last[0] for t in tracks])
    after = starts[None, :] - ends[:, None]  # [i, j]: samples between i's end and j's start
    for i, j in np.argwhere((after > 0) & (after <= NEAR_GAP_SAMPLES)):
        if _centre_distance(tracks[i], tracks[j]) <= 1.0:
            gaps[i, j] -= NEAR_BONUS
            gaps[j, i] -= NEAR_BONUS
    in_sample: dict[int, list[int]] = {}
    for index, track in enumerate(tracks):
        for sample in track.samples:
            in_sample.setdefault(sample, []).append(index)
    for together in in_sample.values():
        gaps[np.ix_(together, together)] = math.inf
    np.fill_diagonal(gaps, math.inf)
    return gaps


@dataclass
class PeopleJoiner:
    """Collects each track's evidence as frames are analysed (:meth:`add`), then joins tracks
    into people (:meth:`join`).

    :param threshold: people closer than this (:meth:`join`) are joined.
    """

    threshold: float = JOIN_DISTANCE
    tracks: dict[int, _Track] = field(default_factory=dict)  # each track's evidence, by id

    def add(self, sample: int, track: int, face: dict, crop: np.ndarray) -> None:
        """One face of a sampled frame.

        :param sample: the sampled frame's number.
        :param track: the face's track id (from the tracker).
        :param face: the face's record (:class:`faceinsight.contract.Face` as JSON).
        :param crop: its equalised grayscale crop (the age/gender model's input).
        """
        seen = (sample, list(face["box"]))
        evidence = _Track({sample}, face_descriptor(crop), 1, female_probability(face), seen, seen)
        if track in self.tracks:
            self.tracks[track].merge(evidence)
        else:
            self.tracks[track] = evidence

    def join(self, threshold: float | None = None) -> dict[int, int]:
        """Each track's person: people numbered from 1 in order of first appearance.

        Agglomerative, closest pair first while closer than the threshold; two people's
        distance is the mean of their tracks' pairwise distances (average linkage: a pooled
        mean of many faces drifts towards an average face and then draws every other one in);
        any two tracks seen in one frame make it infinite.

        :param threshold: instead of the joiner's own (to measure several on one analysis).
        """
        limit = self.threshold if threshold is None else threshold
        ids = sorted(self.tracks)
        if not ids:
            return {}
        gaps = distances([self.tracks[track] for track in ids])
        sizes = np.ones(len(ids))
        members = [[index] for index in range(len(ids))]
        while True:
            i, j = divmod(int(np.argmin(gaps)), len(ids))
            if not gaps[i, j] < limit:
                break
            # Average linkage (Lance-Williams): the joined person's distance to each other one
            # is its tracks' mean distance; infinite stays infinite (a shared frame).
            joined = (sizes[i] * gaps[i] + sizes[j] * gaps[j]) / (sizes[i] + sizes[j])
            gaps[i, :] = gaps[:, i] = joined
            gaps[j, :] = gaps[:, j] = math.inf
            gaps[i, i] = math.inf
            sizes[i] += sizes[j]
            members[i] += members[j]
            members[j] = []
        people = sorted((min(self.tracks[ids[k]].first[0] for k in group), min(group), group)
                        for group in members if group)
        return {ids[k]: number for number, (_, _, group) in enumerate(people, 1) for k in group}
