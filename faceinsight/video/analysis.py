"""Video analysis: sample frames (decoded in a limited child process), analyse each, track faces, summarise.

Each sampled frame goes through :func:`faceinsight.analyze.analyze_image`, the same entry point
as photos, so a video frame and a photo of it give the same faces. A small IoU tracker links
boxes across sampled frames into tracks so the summary can speak of "this person"; a track ends
at a position jump, a scene cut, or a clearly different face in the same place.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import statistics
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from faceinsight import decoder
from faceinsight.analyze import MAX_FACES, analyze_image
from faceinsight.boxes import Box, iou
from faceinsight.contract import (  # noqa: F401 (CSV_FIELDS re-exported)
    CSV_FIELDS,
    VideoSummary,
    VideoTrack,
    csv_row,
    female_probability,
    gender_of,
)
from faceinsight.decoder import (  # noqa: F401 (re-exported: callers import them from here)
    FALLBACK_FPS,
    DecoderLimits,
    VideoError,
    VideoInfo,
    check_container,
    is_supported_container,
)
from faceinsight.images import DEFAULT_MAX_PIXELS
from faceinsight.labels import EMOTIONS, age_group
from faceinsight.models import FaceModels

TRACK_IOU = 0.3  # boxes overlapping at least this much in consecutive samples are one face
TRACK_MAX_GAP = 5  # a track survives this many sampled frames without its face

ProgressCallback = Callable[[int, int], None]  # (frames analysed, frames expected)
FrameCallback = Callable[[int, np.ndarray, list[dict]], None]  # (sample number, RGB, faces)


class VideoTooLong(VideoError):
    """The video is longer (in seconds or analysed frames) than the configured limit."""


class VideoCancelled(Exception):
    """The job was cancelled while its frames were being analysed."""


def probe(path: str, max_pixels: int = DEFAULT_MAX_PIXELS, limits: DecoderLimits | None = None) -> VideoInfo:
    """Open a video, decode its first frame and read its properties, in a limited child process.

    :param path: the video file.
    :param max_pixels: refuse frames larger than this many pixels.
    :param limits: the decoding child's limits (defaults: :class:`DecoderLimits`).
    :raises VideoError: unreadable, not a supported container, no decodable frame, frames
        too large, or the decoder crashed or ran out of time or memory.
    """
    return decoder.probe(path, max_pixels, limits)


def sampled_frames(path: str, sample_fps: float, max_pixels: int = DEFAULT_MAX_PIXELS,
                   limits: DecoderLimits | None = None, on_info: Callable[[VideoInfo], None] | None = None,
                   ) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(source frame index, time in seconds, RGB frame)`` about ``sample_fps`` times a second.

    The frames are decoded in a limited child process (see :mod:`faceinsight.decoder`).

    :param path: the video file.
    :param sample_fps: sampled frames per second of video.
    :param max_pixels: refuse frames larger than this many pixels.
    :param limits: the decoding child's limits.
    :param on_info: when given, the same child probes the video first and this gets its
        :class:`VideoInfo` before any frame (see :func:`faceinsight.decoder.sampled_frames`).
    """
    return decoder.sampled_frames(path, sample_fps, max_pixels, limits, on_info)


def expected_samples(info: VideoInfo, sample_fps: float) -> int:
    """How many frames sampling at ``sample_fps`` will analyse (by the container's count).

    :param info: from :func:`probe`.
    :param sample_fps: sampled frames per second of video.
    """
    if info.frame_count <= 0:
        return 1
    if sample_fps >= info.fps:  # every frame, once
        return info.frame_count
    # The reader takes the first frame at or after each multiple of 1/sample_fps seconds, up to
    # the last frame's time (with its tolerance): one frame more than whole intervals elapsed.
    last_time = (info.frame_count - 1) / info.fps
    return math.floor((last_time + 1e-6) * sample_fps) + 1


def check_limits(info: VideoInfo, sample_fps: float, max_seconds: float, max_frames: int) -> int:
    """Refuse a video over the duration or analysed-frames limit; returns the expected samples.

    :param info: from :func:`probe`.
    :param sample_fps: sampled frames per second of video.
    :param max_seconds: the longest video accepted.
    :param max_frames: the most frames one job analyses.
    :raises VideoTooLong: over either limit.
    """
    if info.duration_s > max_seconds:
        raise VideoTooLong(f"the video lasts {info.duration_s:.1f} s; the limit is {max_seconds:g} s")
    samples = expected_samples(info, sample_fps)
    if samples > max_frames:
        raise VideoTooLong(f"sampling at {sample_fps:g} frames/s would analyse {samples} frames; the "
                           f"limit is {max_frames}: choose a lower sampling rate")
    return samples


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

    def same_person(self, face: dict | None) -> bool:
        """Whether ``face`` can be this track's person (no face attributes: assume so)."""
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

    def update(self, boxes: list[list[int]], faces: list[dict] | None = None, cut: bool = False) -> list[int]:
        """Assign a track id to each box of the next sampled frame (same order as ``boxes``).

        :param boxes: this frame's ``(x, y, w, h)`` boxes.
        :param faces: the analysed faces of those boxes (age, gender), to split tracks when
            the person changes; None links on position alone.
        :param cut: a scene cut happened before this frame: every track ends.
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
            if not live[tid].same_person(faces[i] if faces else None):
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
            ids.append(tid)
        self._tracks = live
        return ids


def summarise_track(track: int, items: list[tuple[float, dict]]) -> dict:
    """One tracked face over the video: median age, gender by mean P(female), dominant emotion.

    :param track: the track id.
    :param items: ``(time in seconds, face)`` for every sample the face was seen in.
    """
    ages = [face["age"] for _, face in items]
    gender, probability = gender_of(statistics.fmean(female_probability(face) for _, face in items))
    scores = {name: round(statistics.fmean(face["emotion_scores"][name] for _, face in items), 4)
              for name in EMOTIONS}
    median_age = round(float(statistics.median(ages)), 1)
    return VideoTrack(
        track=track,
        frames=len(items),
        first_s=items[0][0],
        last_s=items[-1][0],
        median_age=median_age,
        age_group=age_group(median_age),
        gender=gender,
        gender_probability=round(probability, 4),
        dominant_emotion=max(scores, key=scores.get),
        emotion_scores=scores,
    ).dump()


def summarise(frames: list[dict]) -> tuple[list[dict], dict]:
    """Per-track summaries and the whole video's summary from per-frame results.

    :param frames: the ``frames`` list of :func:`analyze_video`'s result.
    """
    by_track: dict[int, list[tuple[float, dict]]] = {}
    for frame in frames:
        for face in frame["faces"]:
            by_track.setdefault(face["track"], []).append((frame["time_s"], face))
    tracks = [summarise_track(tid, items) for tid, items in sorted(by_track.items())]
    faces = [face for frame in frames for face in frame["faces"]]
    totals = {name: sum(face["emotion_scores"][name] for face in faces) for name in EMOTIONS}
    summary = VideoSummary(
        frames_analyzed=len(frames),
        frames_with_faces=sum(1 for frame in frames if frame["faces"]),
        tracks=len(tracks),
        dominant_emotion=max(totals, key=totals.get) if faces else None,
        median_age=round(float(statistics.median(f["age"] for f in faces)), 1) if faces else None,
    )
    return tracks, summary.dump()


def analyze_video(path: str, sample_fps: float, *, max_seconds: float = 600.0, max_frames: int = 1200,
                  max_pixels: int = DEFAULT_MAX_PIXELS, max_faces: int = MAX_FACES,
                  models: FaceModels | None = None, progress: ProgressCallback | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  on_frame: FrameCallback | None = None, info: VideoInfo | None = None,
                  limits: DecoderLimits | None = None) -> dict:
    """Analyse a video file frame by frame.

    :param path: the video file.
    :param sample_fps: analysed frames per second of video.
    :param max_seconds: stop with :class:`VideoTooLong` past this time, whatever the header said.
    :param max_frames: stop with :class:`VideoTooLong` past this many analysed frames.
    :param max_pixels: refuse frames larger than this.
    :param max_faces: analyse at most this many faces per frame.
    :param models: the models (default: the shared ones).
    :param progress: called after each analysed frame with (done, expected).
    :param should_stop: polled before each frame; True raises :class:`VideoCancelled`.
    :param on_frame: called with each sampled frame (e.g. to keep a thumbnail for seeking).
    :param info: the video's facts when it was already probed (the upload check); otherwise the
        child that reads the frames probes the video first (one child start, not two).
    :param limits: the decoding child's limits.
    :returns: ``{"video", "sample_fps", "frames", "tracks", "summary"}``.
    :raises VideoError: unreadable, no frames, too long or frames too large.
    """
    if not (sample_fps > 0 and math.isfinite(sample_fps)):
        raise VideoError("the sampling rate must be a positive number of frames per second")
    probed = [info] if info is not None else []
    expected = check_limits(info, sample_fps, max_seconds, max_frames) if info is not None else 1

    def take_info(found: VideoInfo) -> None:  # not probed yet: the reading child probes first
        nonlocal expected
        expected = check_limits(found, sample_fps, max_seconds, max_frames)
        probed.append(found)

    tracker = IouTracker()
    signature = None
    frames: list[dict] = []
    reader = sampled_frames(path, sample_fps, max_pixels, limits, None if info is not None else take_info)
    with contextlib.closing(reader) as samples:
        for source_index, time_s, rgb in samples:  # leaving early kills the decoding child
            if should_stop is not None and should_stop():
                raise VideoCancelled()
            if time_s > max_seconds or len(frames) >= max_frames:
                raise VideoTooLong(f"the video is longer than the limit ({max_seconds:g} s, "
                                   f"{max_frames} analysed frames)")
            faces = analyze_image(rgb, models=models, max_faces=max_faces).faces
            previous, signature = signature, frame_signature(rgb)
            ids = tracker.update([f["box"] for f in faces], faces, cut=is_scene_cut(previous, signature))
            for face, track in zip(faces, ids, strict=True):
                face["track"] = track
            if on_frame is not None:
                on_frame(len(frames), rgb, faces)
            frames.append({"frame": len(frames), "source_frame": source_index, "time_s": time_s,
                           "faces": faces})
            if progress is not None:
                progress(len(frames), max(expected, len(frames)))
    if not frames:
        raise VideoError("the video has no frames that can be decoded")
    tracks, summary = summarise(frames)
    video = probed[0]
    return {"video": asdict(video), "sample_fps": read_rate(video, sample_fps), "frames": frames,
            "tracks": tracks, "summary": summary}


def read_rate(info: VideoInfo, sample_fps: float) -> float:
    """The rate the frames are read at: ``sample_fps``, or the video's own rate when lower (a
    higher rate than the video's gives every frame once).

    :param info: from :func:`probe`.
    :param sample_fps: the rate asked for.
    """
    return round(info.fps, 3) if 0 < info.fps < sample_fps else sample_fps


def results_csv(results: dict) -> str:
    """Per-frame results as CSV: one row per face, and one empty row for a frame with none.

    The columns are :data:`faceinsight.contract.CSV_FIELDS`.

    :param results: :func:`analyze_video`'s result.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for frame in results["frames"]:
        if not frame["faces"]:
            writer.writerow(csv_row(frame, None))
        for face in frame["faces"]:
            writer.writerow(csv_row(frame, face))
    return out.getvalue()
