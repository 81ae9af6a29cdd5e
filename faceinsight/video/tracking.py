"""Face tracks across sampled frames: which face in this sample continues which of the last ones.

A small greedy tracker links boxes across sampled frames into tracks so a video's summary can
speak of "this person"; a track ends at a position jump, a scene cut, or a clearly different face
in the same place. Faces here are the analyser's JSON records (:class:`faceinsight.contract.Face`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import cv2
import numpy as np

from faceinsight.boxes import Box, iou
from faceinsight.labels import female_probability
from faceinsight.video.people import JOIN_DISTANCE

TRACK_IOU = 0.3  # boxes overlapping at least this much in consecutive samples are one face
TRACK_MAX_GAP = 5  # a track survives this many sampled frames without its face
TRACK_STEP = 1.0  # or whose centre moved at most this many box sides (a head turning at 2 frames/s)


def link_score(a: Box | list[int], b: Box | list[int], threshold: float = TRACK_IOU) -> float | None:
    """How well box ``b`` continues box ``a`` of the previous sample; None when it cannot: the
    boxes overlap less than ``threshold`` and the centre moved more than :data:`TRACK_STEP`
    sides, or the size changed more than 1.5 times (a position jump)."""
    side_a, side_b = max(a[2], a[3]), max(b[2], b[3])
    if not 2 / 3 <= side_b / max(side_a, 1) <= 3 / 2:
        return None
    overlap = iou(a, b)
    step = math.dist((a[0] + a[2] / 2, a[1] + a[3] / 2), (b[0] + b[2] / 2, b[1] + b[3] / 2))
    step /= (side_a + side_b) / 2
    if overlap < threshold and step > TRACK_STEP:
        return None
    return overlap + (1 - min(step, 1.0))


# A track also ends when the face in its place is clearly someone else: the attributes a person
# keeps from one sample to the next change beyond what the models' noise explains.
GENDER_SURE = 0.85  # both the track and the new face this sure, and of different genders
AGE_JUMP_YEARS = 20.0  # the new face's age this far from the track's mean age so far
# ... or its face embedding this far from the track's last face: as far as the people joiner
# holds two people apart (a track split by mistake is joined again there; a track holding two
# people could never be split).
FACE_JUMP = JOIN_DISTANCE
SCENE_CUT = 0.5  # Bhattacharyya distance between consecutive samples' colour histograms


def frame_signature(rgb: np.ndarray) -> np.ndarray:
    """A small hue-saturation histogram of a frame, to tell a scene cut from motion.

    :param rgb: the RGB frame.
    """
    small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).astype(np.float32)
    return cv2.normalize(hist, hist).flatten()


def is_scene_cut(before: np.ndarray | None, after: np.ndarray) -> bool:
    """Whether two consecutive samples' signatures (:func:`frame_signature`) differ like a cut."""
    if before is None:
        return False
    return float(cv2.compareHist(before, after, cv2.HISTCMP_BHATTACHARYYA)) > SCENE_CUT


@dataclass
class _Track:
    box: list[int]
    sample: int
    ages: list[float]
    female: list[float]
    descriptor: np.ndarray | None = None  # its last face's (the face embedding's)

    def same_person(self, face: dict | None, descriptor: np.ndarray | None = None) -> bool:
        """Whether ``face`` (and its ``descriptor``) can be this track's person (no face
        attributes: assume so)."""
        if descriptor is not None and self.descriptor is not None and \
                float(np.linalg.norm(descriptor - self.descriptor)) > FACE_JUMP:
            return False
        if face is None or not self.ages:
            return True
        female = female_probability(face)
        track_female = statistics.fmean(self.female)
        if (track_female >= GENDER_SURE and female <= 1 - GENDER_SURE) or (
                track_female <= 1 - GENDER_SURE and female >= GENDER_SURE):
            return False
        return abs(float(face["age"]) - statistics.fmean(self.ages)) <= AGE_JUMP_YEARS


class IouTracker:
    """Greedy matching of each frame's boxes to the tracks seen in recent frames.

    A track continues only with a box that overlaps its last one or moved at most a box side
    (:func:`link_score`), in the same scene, on a face
    whose gender and age agree with the track's so far: one track is one person.

    :param threshold: the smallest IoU that continues a track.
    :param max_gap: sampled frames a track may go unseen before it ends.
    """

    def __init__(self, threshold: float = TRACK_IOU, max_gap: int = TRACK_MAX_GAP):
        self.threshold = threshold
        self.max_gap = max_gap
        self._tracks: dict[int, _Track] = {}
        self._next_id = 1
        self._sample = -1

    def update(self, boxes: list[list[int]], faces: list[dict] | None = None, cut: bool = False,
               descriptors: list[np.ndarray] | None = None) -> list[int]:
        """Assign a track id to each box of the next sampled frame (same order as ``boxes``).

        :param boxes: this frame's ``(x, y, w, h)`` boxes.
        :param faces: the analysed faces of those boxes (age, gender), to split tracks when
            the person changes; None links on position alone.
        :param cut: a scene cut happened before this frame: every track ends.
        :param descriptors: the faces' face-embedding descriptors, to split tracks when the
            person changes; None: not used.
        """
        self._sample += 1
        if cut:
            self._tracks = {}
        live = {tid: t for tid, t in self._tracks.items() if self._sample - t.sample <= self.max_gap}
        scored = ((link_score(t.box, box, self.threshold), tid, i) for tid, t in live.items()
                  for i, box in enumerate(boxes))
        pairs = sorted((item for item in scored if item[0] is not None), reverse=True)
        assigned: dict[int, int] = {}
        used: set[int] = set()
        for _, tid, i in pairs:
            if i in assigned or tid in used:
                continue
            if not live[tid].same_person(faces[i] if faces else None,
                                         descriptors[i] if descriptors else None):
                continue
            assigned[i] = tid
            used.add(tid)
        ids = []
        for i, box in enumerate(boxes):
            tid = assigned.get(i)
            if tid is None:
                tid, self._next_id = self._next_id, self._next_id + 1
                live[tid] = _Track(list(box), self._sample, [], [])
            track = live[tid]
            track.box, track.sample = list(box), self._sample
            if faces:
                track.ages.append(float(faces[i]["age"]))
                track.female.append(female_probability(faces[i]))
            if descriptors:
                track.descriptor = descriptors[i]
            ids.append(tid)
        self._tracks = live
        return ids
