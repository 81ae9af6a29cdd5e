"""Video analysis: sample frames (decoded in a limited child process), analyse each, track
faces, join the tracks into people, summarise.

Each sampled frame goes through :mod:`faceinsight.analyze` as a photo does (find the faces,
read each), so a video frame and a photo of it give the same faces (:func:`frame_faces` is the
one place that reads its answer). :mod:`faceinsight.video.tracking` links the faces into
tracks, :mod:`faceinsight.video.people` joins the tracks of the same person; the results are a
:class:`faceinsight.contract.VideoResults` record.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Callable
from dataclasses import asdict

import numpy as np

from faceinsight.analyze import MAX_FACES, locate_faces, read_face
from faceinsight.boxes import Box
from faceinsight.contract import Thumbnail, VideoPerson, VideoSummary, VideoTrack
from faceinsight.images import DEFAULT_MAX_PIXELS
from faceinsight.labels import EMOTIONS, age_group, female_probability, gender_of
from faceinsight.models import FaceModels, get_models
from faceinsight.video.decoder import DecoderLimits, VideoError, VideoInfo, sampled_frames
from faceinsight.video.people import PeopleJoiner, embedding_views
from faceinsight.video.tracking import IouTracker, frame_signature, is_scene_cut

ProgressCallback = Callable[[int, int], None]  # (frames analysed, frames expected)
FrameCallback = Callable[[int, np.ndarray, list[dict]], None]  # (sample number, RGB, faces)


class VideoTooLong(VideoError):
    """The video is longer (in seconds or analysed frames) than the configured limit."""


class VideoCancelled(Exception):
    """The job was cancelled while its frames were being analysed."""


def expected_samples(info: VideoInfo, sample_fps: float) -> int:
    """How many frames sampling at ``sample_fps`` will analyse (by the container's count).

    :param info: from :func:`faceinsight.video.decoder.probe`.
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

    :param info: from :func:`faceinsight.video.decoder.probe`.
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


def faces_over_time(items: list[tuple[float, dict]]) -> dict:
    """What faces read over the video (:class:`~faceinsight.contract.FacesOverTime`'s fields):
    median age, gender by mean P(female), dominant emotion by the mean scores.

    :param items: ``(time in seconds, face)`` for every sample the faces were seen in, in time order.
    """
    ages = [face["age"] for _, face in items]
    gender, probability = gender_of(statistics.fmean(female_probability(face) for _, face in items))
    scores = {name: round(statistics.fmean(face["emotion_scores"][name] for _, face in items), 4)
              for name in EMOTIONS}
    median_age = round(float(statistics.median(ages)), 1)
    return {"frames": len(items), "first_s": items[0][0], "last_s": items[-1][0],
            "median_age": median_age, "age_group": age_group(median_age), "gender": gender,
            "gender_probability": round(probability, 4), "dominant_emotion": max(scores, key=scores.get),
            "emotion_scores": scores}


def summarise_person(person: int, items: list[tuple[int, float, dict]]) -> dict:
    """One person over the video (:class:`~faceinsight.contract.VideoPerson`); the thumbnail
    shows its largest face.

    :param person: the person's number.
    :param items: ``(sample, time in seconds, face)`` for each of its faces, in time order.
    """
    sample, _, largest = max(items, key=lambda item: item[2]["box"][2] * item[2]["box"][3])
    return VideoPerson(
        **faces_over_time([(time_s, face) for _, time_s, face in items]), person=person,
        tracks=sorted({face["track"] for _, _, face in items}),
        thumbnail=Thumbnail(frame=sample, box=largest["box"])).dump()


def summarise(frames: list[dict]) -> tuple[list[dict], list[dict], dict]:
    """Per-track and per-person summaries and the whole video's summary from per-frame results.

    :param frames: the ``frames`` list of :func:`analyze_video`'s result (faces with their
        ``track`` and ``person``).
    """
    by_track: dict[int, list[tuple[float, dict]]] = {}
    by_person: dict[int, list[tuple[int, float, dict]]] = {}
    for frame in frames:
        for face in frame["faces"]:
            by_track.setdefault(face["track"], []).append((frame["time_s"], face))
            by_person.setdefault(face["person"], []).append((frame["frame"], frame["time_s"], face))
    tracks = [VideoTrack(**faces_over_time(items), track=tid, person=items[0][1]["person"]).dump()
              for tid, items in sorted(by_track.items())]
    people = [summarise_person(number, items) for number, items in sorted(by_person.items())]
    faces = [face for frame in frames for face in frame["faces"]]
    totals = {name: sum(face["emotion_scores"][name] for face in faces) for name in EMOTIONS}
    summary = VideoSummary(
        frames_analyzed=len(frames),
        frames_with_faces=sum(1 for frame in frames if frame["faces"]),
        tracks=len(tracks),
        people=len(people),
        dominant_emotion=max(totals, key=totals.get) if faces else None,
        median_age=round(float(statistics.median(f["age"] for f in faces)), 1) if faces else None,
    )
    return tracks, people, summary.dump()


def analyze_video(path: str, sample_fps: float, *, max_seconds: float = 600.0, max_frames: int = 1200,
                  max_pixels: int = DEFAULT_MAX_PIXELS, max_faces: int = MAX_FACES,
                  models: FaceModels | None = None, progress: ProgressCallback | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  on_frame: FrameCallback | None = None, info: VideoInfo | None = None,
                  limits: DecoderLimits | None = None, people: PeopleJoiner | None = None) -> dict:
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
    :param people: collects the tracks' evidence and joins them into people (default: a new
        :class:`~faceinsight.video.people.PeopleJoiner`; a bench passes its own to join again).
    :returns: ``{"video", "sample_fps", "frames", "tracks", "people", "summary"}``.
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

    models = models or get_models()
    tracker = IouTracker()
    people = people if people is not None else PeopleJoiner()
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
            faces, descriptors = frame_faces(rgb, models, max_faces)
            previous, signature = signature, frame_signature(rgb)
            ids = tracker.update([f["box"] for f in faces], faces, cut=is_scene_cut(previous, signature),
                                 descriptors=descriptors)
            for face, descriptor, track in zip(faces, descriptors, ids, strict=True):
                face["track"] = track
                people.add(len(frames), track, face, descriptor)
            if on_frame is not None:
                on_frame(len(frames), rgb, faces)
            frames.append({"frame": len(frames), "source_frame": source_index, "time_s": time_s,
                           "faces": faces})
            if progress is not None:
                progress(len(frames), max(expected, len(frames)))
    if not frames:
        raise VideoError("the video has no frames that can be decoded")
    person_of = people.join()
    for frame in frames:
        for face in frame["faces"]:
            face["person"] = person_of[face["track"]]
    tracks, persons, summary = summarise(frames)
    video = probed[0]
    return {"video": asdict(video), "sample_fps": read_rate(video, sample_fps), "frames": frames,
            "tracks": tracks, "people": persons, "summary": summary}


def frame_faces(rgb: np.ndarray, models: FaceModels, max_faces: int) -> tuple[list[dict], list[np.ndarray]]:
    """The faces of one sampled frame as JSON records (:class:`faceinsight.contract.Face`), in
    reading order, to which the tracker adds each one's ``track``; and beside each, the face
    embedding's descriptor of it, for the people joiner.

    :param rgb: the RGB frame.
    :param models: the models.
    :param max_faces: analyse at most this many faces.
    """
    found = locate_faces(rgb, models, max_faces=max_faces).crops
    descriptors = [face_descriptor(rgb, crop.box, models) for crop in found]
    return [read_face(crop, models).dump() for crop in found], descriptors


def face_descriptor(rgb: np.ndarray, box: Box, models: FaceModels) -> np.ndarray:
    """What the people joiner knows a face by: the mean descriptor of its embedding views
    (:func:`faceinsight.video.people.embedding_views`).

    :param rgb: the RGB frame.
    :param box: the face's box ``(x, y, w, h)``.
    :param models: the models (the face embedding loads on first use).
    """
    return np.mean([models.describe_face(view) for view in embedding_views(rgb, box)], axis=0)


def read_rate(info: VideoInfo, sample_fps: float) -> float:
    """The rate the frames are read at: ``sample_fps``, or the video's own rate when lower (a
    higher rate than the video's gives every frame once).

    :param info: from :func:`faceinsight.video.decoder.probe`.
    :param sample_fps: the rate asked for.
    """
    return round(info.fps, 3) if 0 < info.fps < sample_fps else sample_fps
