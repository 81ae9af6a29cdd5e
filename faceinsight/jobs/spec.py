"""What a video job runs from: fixed at upload, with the facts the upload check probed, so that
a video is probed once; kept in the job's folder until it ends, so that a restarted server can
run it again."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from faceinsight.analyze import MAX_FACES
from faceinsight.video.decoder import DecoderLimits, VideoInfo


@dataclass(frozen=True)
class JobSpec:
    """Everything a job needs to run, fixed when the video is uploaded and checked.

    :param video_path: the uploaded video.
    :param job_dir: the job's folder.
    :param name: the cleaned display name of the video.
    :param sample_fps: analysed frames per second of video.
    :param keep: keep the video and results for the retention period (the user opted in).
    :param video: the facts the upload check probed (so the job does not probe again).
    :param frames_expected: how many frames sampling will analyse, by the container's count.
    :param max_seconds: stop past this time, whatever the header said.
    :param max_frames: stop past this many analysed frames.
    :param max_pixels: refuse frames larger than this.
    :param max_faces: analyse at most this many faces per frame.
    :param decoder: the decoding child's limits.
    """

    video_path: str
    job_dir: str
    name: str
    sample_fps: float
    keep: bool
    video: VideoInfo
    frames_expected: int
    max_seconds: float
    max_frames: int
    max_pixels: int
    max_faces: int = MAX_FACES
    decoder: DecoderLimits = field(default_factory=DecoderLimits)

    def to_dict(self) -> dict:
        """The spec as plain JSON values (kept in the job's folder, to run it again)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, value: dict) -> JobSpec:
        """The spec :meth:`to_dict` wrote.

        :raises TypeError, KeyError: not such a spec (another version's, or damaged).
        """
        return cls(**{**value, "video": VideoInfo(**value["video"]),
                      "decoder": DecoderLimits(**value["decoder"])})
