"""What the product answers, defined once: a face, an image's analysis, a video job and its results.

Every answer is described here as a pydantic model, and only here:

* the analyser (:mod:`faceinsight.analyze`) builds each :class:`Face` and the
  :class:`Analysis` once (so ``predict.py --json``, the web API, captures and video frames share
  one shape);
* the web API answers with these models, and its OpenAPI document (``web/openapi.py``) is
  generated from their JSON schema;
* the video CSV's columns and rows (:mod:`faceinsight.video.results`) are derived from
  :class:`Face` and :class:`VideoFrame`;
* the tests check answers against these models.

Field order is the JSON order. Label names (emotions, genders, age groups) come from
:mod:`faceinsight.labels`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import SkipJsonSchema

from faceinsight.labels import AGE_GROUPS, EMOTIONS, GENDERS
from faceinsight.video.decoder import VideoInfo

Emotion = Literal[EMOTIONS]  # type: ignore[valid-type]  (the names are labels.EMOTIONS)
Gender = Literal[GENDERS]  # type: ignore[valid-type]
AgeGroup = Literal[tuple(name for name, _, _ in AGE_GROUPS)]  # type: ignore[misc]
JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
Probability = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0)]
Pixels = Annotated[int, Field(ge=1)]


def _optional_parts_have_no_default(schema: dict[str, Any]) -> None:
    """An optional part is absent, never null: its schema has no ``default: null``."""
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class Answer(BaseModel):
    """Base of every answer: unknown fields are an error, and :meth:`dump` gives the JSON form."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True,
                              json_schema_extra=_optional_parts_have_no_default)

    def dump(self, exclude: set[str] | None = None) -> dict[str, Any]:
        """The answer as JSON-ready Python values; optional parts left out when not given.

        :param exclude: fields to leave out too.
        """
        return self.model_dump(by_alias=True, exclude_unset=True, exclude=exclude)


EmotionScores = create_model(
    "EmotionScores", __base__=Answer,
    __doc__="The seven emotion scores, summing to 1, in labels.EMOTIONS order.",
    **{name: (Probability, ...) for name in EMOTIONS})


class Face(Answer):
    """One face, exactly as ``predict.py --json`` prints it."""

    box: Annotated[list[int], Field(min_length=4, max_length=4, description=(
        "x, y, width, height in pixels of the (EXIF-upright) image; a face cut by the image's "
        "edge gets the part of its box inside the image"))]
    age: Annotated[float, Field(ge=0, description="the expected age in years, one decimal")]
    age_range: Annotated[list[Count], Field(min_length=2, max_length=2, description=(
        "the interval holding 80 % of the predicted age distribution"))]
    age_group: AgeGroup
    gender: Gender
    gender_probability: Annotated[float, Field(ge=0.5, le=1, description=(
        "the model's probability of the reported gender"))]
    emotion: Annotated[Emotion, Field(description="the highest of emotion_scores")]
    emotion_scores: EmotionScores  # type: ignore[valid-type]


class ImageSize(Answer):
    width: Pixels
    height: Pixels


class Timing(Answer):
    """Milliseconds per stage."""

    decode: Seconds
    detect: Seconds
    predict: Seconds
    total: Seconds


class Stored(Answer):
    id: str
    url: str


class Analysis(Answer):
    """Every face in one image (``POST /api/v1/analyze``)."""

    faces: Annotated[list[Face], Field(description=(
        "the faces read, in reading order: rows from top to bottom, each from left to right "
        "(a face is in a row when its centre is within half a face height of the row's); "
        "[] when none"))]
    faces_found: Annotated[Count, Field(description=(
        "how many faces the detector found: more than faces holds when the image had more than "
        "the server reads (faces then holds those the detector is surest of)"))]
    image: ImageSize
    timing_ms: Timing
    stored: SkipJsonSchema[None] | Annotated[Stored, Field(
        description="present when the session keeps captures and this one was kept")] = None
    storage_error: SkipJsonSchema[None] | Annotated[str, Field(
        description="present when the capture was not kept though the session keeps captures: "
                    "the disk is full or nearly, or the session has its quota (the analysis stands)")] = None
    preview: SkipJsonSchema[None] | Annotated[str, Field(
        pattern=r"^data:image/jpeg;base64,", description=(
            "present when asked for (`preview`): the image as a JPEG data URL, upright, at most "
            "1600 pixels a side, in the same proportions as `image`, for a client that cannot show "
            "the format it sent (HEIC, TIFF in most browsers)"))] = None


class Predict(Answer):
    """The largest face (``POST /predict``); every field null and faces 0 when no face was found.
    ``faces`` counts every face found (as ``faces_found`` in :class:`Analysis`)."""

    age: Annotated[int, Field(ge=0)] | None
    gender: Gender | None
    gender_probability: Probability | None
    emotion: Emotion | None
    faces: Count


class VideoFace(Face):
    """A face in a video frame: a :class:`Face`, the track it belongs to and that track's person."""

    track: Annotated[int, Field(ge=1, description=(
        "the face followed from frame to frame; a face that leaves or turns away starts a new one"))]
    person: Annotated[int, Field(ge=1, description="the track's person (results.people)")]


class VideoFrame(Answer):
    """One sampled frame."""

    frame: Annotated[Count, Field(description="the sample's number, from 0")]
    source_frame: Annotated[Count, Field(description="the frame's index in the video")]
    time_s: Seconds
    faces: list[VideoFace]


class FacesOverTime(Answer):
    """What a track or a person's faces read over the video."""

    frames: Annotated[int, Field(ge=1)]
    first_s: Seconds
    last_s: Seconds
    median_age: Annotated[float, Field(ge=0)]
    age_group: AgeGroup
    gender: Annotated[Gender, Field(description="by the mean P(female) over the faces")]
    gender_probability: Annotated[float, Field(ge=0.5, le=1)]
    dominant_emotion: Emotion
    emotion_scores: Annotated[EmotionScores, Field(description="the mean scores")]  # type: ignore[valid-type]


class VideoTrack(FacesOverTime):
    """One tracked face over the video: seen in consecutive samples (short gaps allowed)."""

    track: Annotated[int, Field(ge=1)]
    person: Annotated[int, Field(ge=1, description="the person it belongs to (results.people)")]


class Thumbnail(Answer):
    """Where a person's face is best seen: cut ``box`` out of the sampled frame ``frame``
    (``links.frame``; frames are scaled to at most 640 px, scale the box by the video's size)."""

    frame: Annotated[Count, Field(description="the sample's number, from 0")]
    box: Annotated[list[int], Field(min_length=4, max_length=4, description=(
        "x, y, width, height in the video's pixels: its largest face"))]


class VideoPerson(FacesOverTime):
    """One person: the tracks of the same face, joined across gaps, turns and exits by
    appearance and the models' readings (never two tracks seen in the same frame)."""

    person: Annotated[int, Field(ge=1, description="numbered from 1 in order of first appearance")]
    tracks: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)]
    thumbnail: Thumbnail


class VideoSummary(Answer):
    frames_analyzed: Count
    frames_with_faces: Count
    tracks: Count
    people: Annotated[Count, Field(description="tracks joined into people (results.people)")]
    dominant_emotion: Emotion | None
    median_age: Annotated[float, Field(ge=0), Field(
        description="over every face in every frame, all people together: with several people, "
                    "see each person's")] | None


VideoMeta = create_model(
    "VideoMeta", __base__=Answer,
    __doc__="What the container says about the video (frame_count may be 0 when unknown).",
    # The decoder's facts, with their bounds, as it reports them (declared once, there) ...
    **{name: (hint, ...) for name, hint in get_type_hints(VideoInfo, include_extras=True).items()},
    # ... and the upload's name, added by the job.
    name=(SkipJsonSchema[None] | Annotated[str, Field(description="the upload's display name")], None))


# The rate a video's frames are read at (a job's and its results').
ReadRate = Annotated[float, Field(gt=0, description=(
    "frames read per second of video: the rate asked for, or the video's own where it is lower"))]


class VideoResults(Answer):
    """A video's analysis: per-frame faces, per-track and per-person summaries and the whole
    video's summary."""

    video: VideoMeta
    sample_fps: ReadRate
    frames: list[VideoFrame]
    tracks: list[VideoTrack]
    people: list[VideoPerson]
    summary: VideoSummary


class JobLinks(Answer):
    self_: str = Field(alias="self")
    csv: str
    json_: str = Field(alias="json")
    frame: Annotated[str, Field(description="a template: replace {frame} with a frame number")]


class VideoJobFields(Answer):
    """What a client sees of a video job's state: the public fields of
    :class:`faceinsight.jobs.store.JobState` (which adds those only the server reads)."""

    id: Annotated[str, Field(pattern="^[0-9a-f]{32}$")]
    status: JobStatus
    progress: Annotated[int, Field(ge=0, le=100)]
    name: str
    created: Seconds
    sample_fps: ReadRate
    frames_analyzed: Count
    frames_expected: Count
    error: Annotated[str | None, Field(description="why the job failed or was cancelled")]
    warning: Annotated[str | None, Field(
        description="a finished job that read far fewer frames than the video promised "
                    "(damaged or cut short): its results cover what could be read")] = None
    note: Annotated[str | None, Field(
        description="what happened to the job on its way, e.g. 'restarted after a server "
                    "restart' (it was queued again from the start)")] = None
    keep: bool


class VideoJob(VideoJobFields):
    """A video job's status document (``GET /api/v1/videos/{job_id}``)."""

    links: JobLinks
    results: SkipJsonSchema[None] | Annotated[VideoResults, Field(
        description="present when the job is done")] = None


class VideoJobCreated(Answer):
    """A video job just queued (``POST /api/v1/videos``, 202)."""

    id: Annotated[str, Field(pattern="^[0-9a-f]{32}$")]
    status: JobStatus
    url: str
    token: Annotated[str, Field(description=(
        "the job's secret, given only here: send it as X-Job-Token to read or delete the job "
        "without the session cookie"))]
    storage_error: SkipJsonSchema[None] | Annotated[str, Field(description=(
        "present when the session keeps captures but this video is not kept (its quota, a "
        "nearly full disk): it is analysed all the same"))] = None


# The web API's small answers.

class Error(Answer):
    """Every error: 4xx and 5xx."""

    error: str


class Health(Answer):
    status: Literal["ok"]


class Ready(Answer):
    status: Literal["ready"]
    jobs: Literal["thread", "rq"]


class VideoDeleted(Answer):
    id: str
    deleted: bool


class Privacy(Answer):
    keep: bool


class Cleared(Answer):
    cleared: bool
    captures: Count
    videos: Count


class Capture(Answer):
    id: str
    name: str | None
    created: Seconds | None
    url: str


class KeptVideo(Answer):
    id: Annotated[str, Field(pattern="^[0-9a-f]{32}$")]
    name: str
    created: Seconds
    status: JobStatus
    url: Annotated[str, Field(description="the job: GET its status and results, DELETE it")]


class Captures(Answer):
    keep: bool
    captures: Annotated[list[Capture], Field(description="newest first")]
    videos: Annotated[list[KeptVideo], Field(description="video jobs kept with the session's "
                                                         "captures, newest first")]


class CaptureDeleted(Answer):
    deleted: str
