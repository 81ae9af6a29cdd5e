"""Video jobs: upload (202), status and results, downloads, frames for seeking, delete."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import math
import os
import re
import shutil
from pathlib import Path

from flask import Blueprint, Request, Response, current_app, jsonify, request, send_file, session, url_for

from faceinsight.contract import VideoDeleted, VideoJob, VideoJobCreated, VideoJobFields
from faceinsight.jobs.access import may_access, new_job_token
from faceinsight.jobs.manager import JobManager
from faceinsight.jobs.runners import JobQueueFull
from faceinsight.jobs.shares import Share
from faceinsight.jobs.spec import JobSpec
from faceinsight.jobs.store import FINISHED, JobState
from faceinsight.video.analysis import check_limits, read_rate
from faceinsight.video.decoder import DecoderLimits, VideoError, probe
from faceinsight.video.results import results_csv
from faceinsight.web.errors import ApiError
from faceinsight.web.quota import KEEPING, keep_refusal
from faceinsight.web.requests import (
    clean_name,
    first_bytes,
    form_field,
    spooled_path,
    uploaded_file,
    video_extension,
)
from faceinsight.web.security import session_id
from faceinsight.web.settings import MB, mib

log = logging.getLogger(__name__)
blueprint = Blueprint("videos", __name__)
COPY_CHUNK = 1024 * 1024
TOKEN_HEADER = "X-Job-Token"
PLAIN_DECIMAL = re.compile(r"[0-9]+\.?[0-9]*|\.[0-9]+", re.ASCII)
# Characters no file name may hold on some system (Windows), and runs of spaces.
NOT_IN_FILE_NAMES = re.compile(r'[<>:"/\\|?*\s]+')
DOWNLOAD_STEM_CHARS = 80  # a download's name keeps at most this much of the video's


def jobs() -> JobManager:
    return current_app.extensions["faceinsight.jobs"]


def sample_fps_field(request: Request) -> float:
    """The ``sample_fps`` form field, checked: one plain field of that name beside the file,
    never one named ``fps``, sent in the URL, or sent as a file (each would else be ignored).

    :raises ApiError: 400 naming what is wrong (see :func:`read_sample_fps` for its value).
    """
    if "fps" in request.form or "fps" in request.files:
        raise ApiError(400, "the sampling rate field is called 'sample_fps', not 'fps'")
    if "fps" in request.args:
        raise ApiError(400, "send 'sample_fps' as a form field beside the file, not in the URL")
    return read_sample_fps(form_field(request, "sample_fps", "a number"))


def read_sample_fps(raw: str | None) -> float:
    """The requested sampling rate, within (0, FACEINSIGHT_VIDEO_MAX_FPS].

    :param raw: the ``sample_fps`` form field (None for the default).
    :raises ApiError: 400 when it is not a number in range.
    """
    config = current_app.config
    if raw is None or raw.strip() == "":
        return float(config["FACEINSIGHT_VIDEO_DEFAULT_FPS"])
    highest = float(config["FACEINSIGHT_VIDEO_MAX_FPS"])
    # Plain decimals only: float() also reads "1_0" as 10 and full-width digits, a typo's rate.
    if not PLAIN_DECIMAL.fullmatch(raw.strip()):
        raise ApiError(400, f"'sample_fps' must be frames per second written as a plain decimal, "
                            f"such as 2 or 0.5 (above 0 and at most {highest:g})")
    value = float(raw)
    if not (math.isfinite(value) and 0 < value <= highest):
        raise ApiError(400, f"'sample_fps' must be frames per second above 0 and at most {highest:g}")
    return value


def refuse_a_cleared_session() -> None:
    """An upload sent before Clear session carries the old cookie: its job would keep frames
    under an id that nobody can list or delete any more.

    :raises ApiError: 409 when this request's session was cleared.
    """
    owner = session_id(create=False)
    if owner and current_app.extensions["faceinsight.captures"].was_cleared(owner):
        raise ApiError(409, "this session was cleared after the upload began: nothing sent before "
                            "the clear is analysed; send the video again")


def client_key() -> str:
    """This request's remote address, keyed with the app's secret (job states on disk never
    hold an address)."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, (request.remote_addr or "").encode(), hashlib.sha256).hexdigest()[:32]


def sender_share() -> Share:
    """Whose jobs count against this upload's share: its session's, or, for a request without a
    session cookie (API use), its remote address's cookieless jobs."""
    limit = int(current_app.config["FACEINSIGHT_JOB_PER_CLIENT"])
    owner = session_id(create=False)
    if owner:
        return Share("owner", owner, limit, "this session")
    return Share("client", client_key(), limit, "this client (without a session cookie)")


def refuse_past_share(share: Share) -> None:
    """Refuse an upload early, before its body is read, when its sender has its share.

    :raises ApiError: 429 with ``Retry-After``.
    """
    try:
        jobs().check_share(share)
    except JobQueueFull as error:
        raise _queue_full(error) from error


def _queue_full(error: JobQueueFull) -> ApiError:
    """The 429 for a full queue or share, with the estimate of when a place frees."""
    return ApiError(429, str(error), {"Retry-After": str(error.retry_after_s or 60)})


def note_kept_video(job_id: str, video: Path) -> None:
    """Count a kept video against its session's quota (a failure is logged: the job stands)."""
    try:
        current_app.extensions["faceinsight.captures"].note_kept_video(session_id(), job_id, video)
    except OSError as error:
        log.warning("could not note kept video %s for the quota: %s", job_id, error)


def decoder_limits() -> DecoderLimits:
    """The decoding child's limits from the app's settings."""
    config = current_app.config
    return DecoderLimits(memory_mb=int(config["FACEINSIGHT_DECODER_MEMORY_MB"]),
                         probe_s=float(config["FACEINSIGHT_DECODER_PROBE_SECONDS"]),
                         read_cpu_s=float(config["FACEINSIGHT_DECODER_READ_SECONDS"]))


def save_upload(stream, path: Path, limit: int) -> int:
    """Put an uploaded video in its job folder, refusing it past ``limit`` bytes: a part spooled
    in the upload folder (:func:`spool_file`) is linked there, anything else copied.

    :param stream: the file part's stream.
    :param path: the destination.
    :param limit: the largest size accepted, in bytes.
    :raises ApiError: 413 over the limit, 400 when empty.
    """
    spooled = spooled_path(stream, current_app.config["FACEINSIGHT_UPLOAD_DIR"])
    if spooled is not None:
        stream.flush()
        size = os.fstat(stream.fileno()).st_size
        if size > limit:
            raise ApiError(413, f"the video is too large; the limit is {mib(limit)}")
        if size == 0:
            raise ApiError(400, "the uploaded file is empty")
        try:
            os.link(spooled, path)  # the same file, under the job's name; the spool's name goes
            path.chmod(0o600)
            return size
        except OSError as error:  # links not supported there: copy as for any stream
            log.info("could not link the spooled video (%s); copying it", error)
            stream.seek(0)
    size = 0
    with path.open("wb") as out:
        while chunk := stream.read(COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"the video is too large; the limit is {mib(limit)}")
            out.write(chunk)
    if size == 0:
        raise ApiError(400, "the uploaded file is empty")
    path.chmod(0o600)
    return size


def public_state(state: JobState) -> dict:
    """What a client sees of a job (:class:`faceinsight.contract.VideoJob`): never its owner."""
    job_id = state.id
    links = {
        "self": url_for("videos.status", job_id=job_id),
        "csv": url_for("videos.download_csv", job_id=job_id),
        "json": url_for("videos.download_json", job_id=job_id),
        "frame": url_for("videos.status", job_id=job_id) + "/frames/{frame}.jpg",
    }
    return VideoJob(**state.model_dump(include=set(VideoJobFields.model_fields)), links=links).dump()


@blueprint.post("/api/v1/videos")
def create() -> tuple[Response, int, dict[str, str]]:
    """Start analysing an uploaded video in the background; 202 with the job's id and URL."""
    config = current_app.config
    refuse_a_cleared_session()
    share = sender_share()
    refuse_past_share(share)
    part = uploaded_file(request, example="clip.mp4")
    name = clean_name(part.filename)
    ext = video_extension(name, part.mimetype or "", first_bytes(part))
    sample_fps = sample_fps_field(request)
    try:
        job_id, folder = jobs().new_job()
    except OSError as error:
        log.error("cannot create a video job folder: %s", error)
        raise ApiError(503, "the server cannot store the video right now (upload folder not writable)",
                       {"Retry-After": "60"}) from error
    try:
        video_path = folder / f"video{ext}"
        size = save_upload(part.stream, video_path, int(config["FACEINSIGHT_MAX_VIDEO_MB"] * MB))
        limits = decoder_limits()
        info = probe(str(video_path), config["FACEINSIGHT_MAX_PIXELS"], limits)  # in a child
        sample_fps = read_rate(info, sample_fps)  # the job, and a refusal, say the rate read at
        expected = check_limits(info, sample_fps, config["FACEINSIGHT_VIDEO_MAX_SECONDS"],
                                config["FACEINSIGHT_VIDEO_MAX_FRAMES"])
        token, token_sha256 = new_job_token()
        with KEEPING:  # the quota's check and the note of what is kept, one step
            refusal = keep_refusal(session_id(), size) if session.get("keep") else None
            spec = JobSpec(video_path=str(video_path), job_dir=str(folder), name=name, sample_fps=sample_fps,
                           keep=bool(session.get("keep")) and not refusal, video=info,
                           frames_expected=expected, max_seconds=config["FACEINSIGHT_VIDEO_MAX_SECONDS"],
                           max_frames=config["FACEINSIGHT_VIDEO_MAX_FRAMES"],
                           max_pixels=config["FACEINSIGHT_MAX_PIXELS"], decoder=limits)
            client = share.value if share.field == "client" else ""
            state = jobs().submit(job_id, session_id(), spec, token_sha256, client=client, share=share)
            if spec.keep:
                note_kept_video(job_id, video_path)
    except VideoError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise ApiError(422, str(error)) from error
    except JobQueueFull as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise _queue_full(error) from error
    except OSError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise ApiError(503, f"the server cannot store the video right now: {error.strerror or error}",
                       {"Retry-After": "60"}) from error
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # a client gone mid-upload leaves nothing behind
        raise
    url = url_for("videos.status", job_id=job_id)
    not_kept = {"storage_error": f"the video is analysed but not kept: {refusal}"} if refusal else {}
    body = VideoJobCreated(id=job_id, status=state.status, url=url, token=token, **not_kept)
    return jsonify(body.dump()), 202, {"Location": url}


def _job_or_404(job_id: str) -> JobState:
    """The job's state if the caller may see it: the session that created it, or the holder of
    its token (``X-Job-Token``); 404 for everyone else, as for an unknown id.

    :param job_id: the job.
    :raises ApiError: 404.
    """
    state = jobs().get(job_id)
    if state is None or not may_access(state.owner, state.token_hash, session_id(create=False),
                                       request.headers.get(TOKEN_HEADER)):
        raise ApiError(404, "no such video job (it may have been deleted or expired)")
    return state


@blueprint.get("/api/v1/videos/<job_id>")
def status(job_id: str) -> Response:
    """A job's status and progress (0-100), its results once done, or why it failed."""
    state = _job_or_404(job_id)
    body = public_state(state)
    if state.status == "done":  # checked against VideoResults when the job stored them
        body["results"] = jobs().results(job_id)
    return jsonify(body)


@blueprint.delete("/api/v1/videos/<job_id>")
def delete(job_id: str) -> Response:
    """Cancel a job if it is still running and remove its files and results."""
    _job_or_404(job_id)
    jobs().delete(job_id)
    return jsonify(VideoDeleted(id=job_id, deleted=True).dump())


def _finished_results(job_id: str) -> tuple[JobState, dict]:
    """A finished job's state and results.

    :raises ApiError: 404 (no such job, or its results are gone), 409 (not done).
    """
    state = _job_or_404(job_id)
    if state.status != "done":
        reason = state.error if state.status in FINISHED else "it is still being analysed"
        raise ApiError(409, f"the job has no results: {reason}")
    results = jobs().results(job_id)
    if results is None:
        raise ApiError(404, "the job's results are gone (deleted or expired)")
    return state, results


def download_name(video_name: str, job_id: str, suffix: str) -> str:
    """A results download's file name, after the video's: ``holiday.mp4`` gives
    ``holiday-faces.csv``; a video without a usable name gives ``faceinsight-video-<id>.csv``.

    :param video_name: the upload's cleaned name (no folders or control characters).
    :param job_id: the job, for a video without a name.
    :param suffix: ``csv`` or ``json``.
    """
    stem = NOT_IN_FILE_NAMES.sub(" ", Path(video_name).stem).strip(" .")[:DOWNLOAD_STEM_CHARS].strip(" .")
    return f"{stem}-faces.{suffix}" if stem else f"faceinsight-video-{job_id[:8]}.{suffix}"


def _download(state: JobState, body: str, mimetype: str, suffix: str) -> Response:
    """``body`` as an attachment named after the job's video (a non-ASCII name as RFC 6266
    says: an ASCII ``filename`` and a UTF-8 ``filename*``, written by :func:`flask.send_file`).

    :param state: the job's state (its id and video name).
    :param body: the download's text.
    :param mimetype: its type.
    :param suffix: its file name's extension.
    """
    name = download_name(state.name, state.id, suffix)
    return send_file(io.BytesIO(body.encode("utf-8")), mimetype=mimetype, as_attachment=True,
                     download_name=name, max_age=0, conditional=False, etag=False)


@blueprint.get("/api/v1/videos/<job_id>/results.csv")
def download_csv(job_id: str) -> Response:
    """Per-frame results as CSV (one row per face; an empty row for a frame with none)."""
    state, results = _finished_results(job_id)
    return _download(state, results_csv(results), "text/csv", "csv")


@blueprint.get("/api/v1/videos/<job_id>/results.json")
def download_json(job_id: str) -> Response:
    """The full results as a JSON download."""
    state, results = _finished_results(job_id)
    return _download(state, json.dumps(results, indent=1), "application/json", "json")


@blueprint.get("/api/v1/videos/<job_id>/frames/<int:frame>.jpg")
def frame_image(job_id: str, frame: int) -> Response:
    """One sampled frame (JPEG, at most 640 px), only for the job's owner."""
    _job_or_404(job_id)
    path = jobs().frame_path(job_id, frame)
    if path is None:
        raise ApiError(404, "no such frame")
    return send_file(path, mimetype="image/jpeg", max_age=0, conditional=False)
