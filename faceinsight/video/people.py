"""People in a video: face tracks of the same person joined across gaps, turns and exits.

The tracker (:mod:`faceinsight.video.tracking`) links a face from one sampled frame to the next;
a face that turns away, leaves or is hidden for a while starts a new track when it comes back.
:class:`PeopleJoiner` collects each track's evidence while the video is analysed (its faces'
appearance, the gender model's reading, where and when it was seen) and afterwards joins tracks
into people, closest first (average linkage over the tracks' pairwise distances), by appearance
above all:

* appearance: the face embedding's descriptor (128 numbers from face-api.js's port of dlib's
  face recognition ResNet, shipped as ``models/face_embedding.tflite``,
  :mod:`faceinsight.training.face_embedding`) of a square about the face's box and of its
  mirror image, averaged over the track; two tracks' distance is the Euclidean distance of
  their means;
* the gender model's reading as soft evidence: the further apart two tracks' mean P(female),
  the further apart they are held (``GENDER_WEIGHT``, chosen on the bench's tuning half);
* position: a track that starts where another ended, shortly after, is held closer (a face that
  turned away and back; the bench does not measure it);
* a hard rule: two tracks seen in the same frame are never one person.

The threshold was tuned with ``python -m bench.bench_people`` on one half of CK+'s subjects
and measured on the other (docs/models/people-in-videos.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from faceinsight.boxes import Box
from faceinsight.crops import crop_box
from faceinsight.labels import female_probability
from faceinsight.models import EMBEDDING_SIDE

JOIN_DISTANCE = 0.575  # people closer than this are joined (bench_people's tuning half)
GENDER_WEIGHT = 0.05  # added per unit of difference between the mean P(female)s
NEAR_GAP_SAMPLES = 10  # a track starting this soon after another ended, within a box side of
NEAR_BONUS = 0.02  # where it ended, is held this much closer (a face that turned away and back)

EMBEDDING_SCALE = 1.0  # the embedding's square side over the face box's longer side


def embedding_views(rgb: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """The face embedding's two views of one face, :func:`embedding_input` and its mirror image:
    the mean of their descriptors is steadier than either (bench_people's tuning half: 29 of 30
    clips right against 28).

    :param rgb: the RGB frame.
    :param box: the face's box ``(x, y, w, h)``.
    """
    square = embedding_input(rgb, box)
    return square, np.ascontiguousarray(square[:, ::-1])


def embedding_input(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The face embedding's input for one face: a square about the box's centre, the box's
    longer side times :data:`EMBEDDING_SCALE` (the border repeated past the frame's edge),
    resized to the model's side.

    :param rgb: the RGB frame.
    :param box: the face's box ``(x, y, w, h)``.
    """
    x, y, w, h = box
    side = max(1, round(max(w, h) * EMBEDDING_SCALE))
    square = crop_box(rgb, (round(x + w / 2 - side / 2), round(y + h / 2 - side / 2), side, side))
    interpolation = cv2.INTER_AREA if side > EMBEDDING_SIDE else cv2.INTER_LINEAR
    return cv2.resize(square, (EMBEDDING_SIDE, EMBEDDING_SIDE), interpolation=interpolation)


@dataclass
class _Track:
    """What one track's faces showed so far."""

    samples: set[int]
    appearance: np.ndarray  # the sum of its faces' descriptors (the face embedding's)
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
    """How unlike each two tracks are: the Euclidean distance of their mean descriptors, plus the soft
    evidence of the gender model's reading and of position (see the module's docstring);
    infinite for two tracks seen in the same frame (and on the diagonal).

    :param tracks: the tracks' evidence.
    :returns: a symmetric n x n matrix.
    """
    means = np.stack([t.appearance / t.faces for t in tracks])
    female = np.array([t.female / t.faces for t in tracks])
    gaps = (np.linalg.norm(means[:, None] - means[None, :], axis=-1)
            + GENDER_WEIGHT * np.abs(female[:, None] - female[None, :]))
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

    def add(self, sample: int, track: int, face: dict, descriptor: np.ndarray) -> None:
        """One face of a sampled frame.

        :param sample: the sampled frame's number.
        :param track: the face's track id (from the tracker).
        :param face: the face's record (:class:`faceinsight.contract.Face` as JSON).
        :param descriptor: the face embedding's descriptor of it
            (:meth:`faceinsight.models.FaceModels.describe_face` of :func:`embedding_input`).
        """
        seen = (sample, list(face["box"]))
        evidence = _Track({sample}, np.asarray(descriptor, np.float64), 1, female_probability(face),
                          seen, seen)
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
