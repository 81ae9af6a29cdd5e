"""The OpenAPI 3 description of the API, served at ``/api/v1/openapi.json``.

Kept next to the routes and filled in with the server's configured limits, so what the file
promises is what this server does (schemathesis checks responses against it).
"""

from __future__ import annotations

from typing import Any

from faceinsight import __version__
from faceinsight.labels import AGE_GROUPS, EMOTIONS, GENDERS
from faceinsight.web.uploads import FALSE_WORDS, TRUE_WORDS

JSON = "application/json"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": _ref("Error")}}}


def _json(description: str, schema: dict, headers: dict | None = None) -> dict:
    response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _number(minimum: float | None = None, maximum: float | None = None, integer: bool = False) -> dict:
    schema: dict[str, Any] = {"type": "integer" if integer else "number"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def _object(properties: dict, required: list[str] | None = None, **extra: Any) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    schema.update(extra)
    return schema


def _schemas() -> dict[str, dict]:
    scores = _object({name: _number(0, 1) for name in EMOTIONS})
    face = _object({
        "box": {"type": "array", "items": _number(integer=True), "minItems": 4, "maxItems": 4,
                "description": "x, y, width, height in pixels of the (EXIF-upright) image"},
        "age": _number(0),
        "age_range": {"type": "array", "items": _number(0, integer=True), "minItems": 2, "maxItems": 2,
                      "description": "the interval holding 80 % of the predicted age distribution"},
        "age_group": {"type": "string", "enum": [name for name, _, _ in AGE_GROUPS]},
        "gender": {"type": "string", "enum": list(GENDERS)},
        "gender_probability": _number(0, 1),
        "emotion": {"type": "string", "enum": list(EMOTIONS)},
        "emotion_scores": scores,
    }, description="One face, exactly as `predict.py --json` prints it.")
    video_face = {"allOf": [face, _object({"track": _number(1, integer=True)})]}
    timing = _object({name: _number(0) for name in ("decode", "detect", "predict", "total")})
    analysis = _object({
        "faces": {"type": "array", "items": _ref("Face"), "description": "largest first; [] when none"},
        "image": _object({"width": _number(1, integer=True), "height": _number(1, integer=True)}),
        "timing_ms": timing,
        "stored": _object({"id": {"type": "string"}, "url": {"type": "string"}},
                          description="present when the session keeps captures and this one was kept"),
        "storage_error": {"type": "string",
                          "description": "present when keeping the capture failed (the analysis stands)"},
    }, required=["faces", "image", "timing_ms"])
    nullable_string = {"type": "string", "nullable": True}
    predict = _object({
        "age": {**_number(0, integer=True), "nullable": True},
        "gender": {**nullable_string, "enum": [*GENDERS, None]},
        "gender_probability": {**_number(0, 1), "nullable": True},
        "emotion": {**nullable_string, "enum": [*EMOTIONS, None]},
        "faces": _number(0, integer=True),
    }, description="The largest face; every field null and faces 0 when no face was found.")
    status = {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]}
    frame = _object({
        "frame": _number(0, integer=True),
        "source_frame": _number(0, integer=True),
        "time_s": _number(0),
        "faces": {"type": "array", "items": _ref("VideoFace")},
    })
    track = _object({
        "track": _number(1, integer=True), "frames": _number(1, integer=True),
        "first_s": _number(0), "last_s": _number(0), "median_age": _number(0),
        "age_group": face["properties"]["age_group"], "gender": face["properties"]["gender"],
        "gender_probability": _number(0, 1), "dominant_emotion": face["properties"]["emotion"],
        "emotion_scores": scores,
    })
    results = _object({
        "video": _object({"fps": _number(0), "frame_count": _number(0, integer=True),
                          "duration_s": _number(0), "width": _number(1, integer=True),
                          "height": _number(1, integer=True), "name": {"type": "string"}}),
        "sample_fps": _number(0),
        "frames": {"type": "array", "items": _ref("VideoFrame")},
        "tracks": {"type": "array", "items": _ref("VideoTrack")},
        "summary": _object({
            "frames_analyzed": _number(0, integer=True), "frames_with_faces": _number(0, integer=True),
            "tracks": _number(0, integer=True),
            "dominant_emotion": {**nullable_string, "enum": [*EMOTIONS, None]},
            "median_age": {**_number(0), "nullable": True},
        }),
    })
    job = _object({
        "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "status": status,
        "progress": _number(0, 100, integer=True),
        "name": {"type": "string"},
        "created": _number(0),
        "sample_fps": _number(0),
        "frames_analyzed": _number(0, integer=True),
        "frames_expected": _number(0, integer=True),
        "error": {**nullable_string, "description": "why the job failed or was cancelled"},
        "keep": {"type": "boolean"},
        "links": _object({name: {"type": "string"} for name in ("self", "csv", "json", "frame")}),
        "results": _ref("VideoResults"),
    }, required=["id", "status", "progress", "name", "created", "sample_fps", "frames_analyzed",
                 "frames_expected", "error", "keep", "links"])
    return {
        "Error": _object({"error": {"type": "string"}}),
        "Face": face,
        "VideoFace": video_face,
        "Analysis": analysis,
        "Predict": predict,
        "VideoFrame": frame,
        "VideoTrack": track,
        "VideoResults": results,
        "VideoJob": job,
        "VideoJobCreated": _object({"id": job["properties"]["id"], "status": status,
                                    "url": {"type": "string"},
                                    "token": {"type": "string", "description": (
                                        "the job's secret, given only here: send it as X-Job-Token "
                                        "to read or delete the job without the session cookie")}}),
    }


def _flags(form: bool) -> dict:
    """The ``detect`` and ``store`` flags: words in a form; a boolean (or the same words) in JSON."""
    words = {"type": "string", "enum": ["", *TRUE_WORDS, *FALSE_WORDS],
             "description": "case-insensitive; '' means the default"}
    schema = words if form else {"oneOf": [{"type": "boolean"}, words], "nullable": True}
    return {
        "detect": {**schema, "default": "true" if form else True,
                   "description": "false: the image already is one face crop (box = whole image)"},
        "store": {**schema, "default": "true" if form else True,
                  "description": "false: never keep this image, even if the session keeps captures"},
    }


def _image_request(max_photo_mb: float) -> dict:
    return {"required": True, "content": {
        "multipart/form-data": {"schema": _object(
            {"file": {"type": "string", "format": "binary",
                      "description": f"JPEG, PNG, BMP, WebP, GIF or TIFF; at most {max_photo_mb:g} MiB"},
             **_flags(form=True)}, required=["file"])},
        JSON: {"schema": _object(
            {"image": {"type": "string", "pattern": r"^data:image/[\w.+-]+;base64,[A-Za-z0-9+/]+={0,2}$",
                       "description": "a data URL: data:image/<type>;base64,<data>"},
             "name": {"type": "string", "description": "display name (kept only with the capture)"},
             **_flags(form=False)}, required=["image"])},
    }}


def _photo_errors() -> dict:
    return {
        "400": _error("no file, wrong field name, empty file, malformed JSON, data URL or flag"),
        "413": _error("the upload is over the size limit, or the image over the pixel limit"),
        "415": _error("the body is not multipart/JSON, or the file or data URL is not an image type"),
        "422": _error("the bytes are not a readable image (corrupt, truncated, not an image)"),
        "503": _error("the models are missing or corrupt (the message names the file)"),
    }


def _paths(config: dict) -> dict:
    photo_mb = float(config.get("FACEINSIGHT_MAX_PHOTO_MB", 10))
    video_mb = float(config.get("FACEINSIGHT_MAX_VIDEO_MB", 100))
    max_fps = float(config.get("FACEINSIGHT_VIDEO_MAX_FPS", 10))
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    job_token = {"name": "X-Job-Token", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "the token returned when the job was created (not needed by the "
                                "session that created it)"}
    retry = {"Retry-After": {"schema": {"type": "integer"}}}
    not_found = _error("no such job (never existed, deleted or expired), or another owner's job")
    queue_down = {**_error("the job queue (Redis) is not reachable"), "headers": retry}
    not_done = _error("the job is not done (running, failed or cancelled)")
    binary = {"schema": {"type": "string", "format": "binary"}}
    csrf = {"name": "X-CSRF-Token", "in": "header", "required": True, "schema": {"type": "string"},
            "description": "the token in the page's <meta name=csrf-token>"}
    return {
        "/api/v1/analyze": {"post": {
            "summary": "Every face in one image, with age, gender and emotion",
            "operationId": "analyze",
            "requestBody": _image_request(photo_mb),
            "responses": {"200": _json("faces found (an empty list when none)", _ref("Analysis")),
                          **_photo_errors()},
        }},
        "/predict": {"post": {
            "summary": "Legacy single-face answer for the largest face",
            "operationId": "predict",
            "requestBody": _image_request(photo_mb),
            "responses": {"200": _json("the largest face, or nulls", _ref("Predict")), **_photo_errors()},
        }},
        "/api/v1/videos": {"post": {
            "summary": "Start analysing a video in the background",
            "operationId": "createVideoJob",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _object({
                "file": {"type": "string", "format": "binary",
                         "description": f"mp4, webm, avi, mov or mkv; at most {video_mb:g} MiB"},
                "sample_fps": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                               "maximum": max_fps, "description": "frames analysed per second of video"},
            }, required=["file"])}}},
            "responses": {
                "202": {**_json("the job is queued", _ref("VideoJobCreated"),
                                {"Location": {"schema": {"type": "string"}}}),
                        "links": {name: {"operationId": op,
                                         "parameters": {"job_id": "$response.body#/id",
                                                        "header.X-Job-Token": "$response.body#/token"}}
                                  for name, op in (("GetVideoJob", "getVideoJob"),
                                                   ("DeleteVideoJob", "deleteVideoJob"),
                                                   ("ResultsCsv", "videoResultsCsv"),
                                                   ("ResultsJson", "videoResultsJson"))}},
                "400": _error("no file, wrong field name, empty file or bad sample_fps"),
                "413": _error("the video is over the size limit"),
                "415": _error("not multipart, or not a supported video type"),
                "422": _error("not a readable video, no frames, or over the duration/frame limits"),
                "429": {**_error("too many video jobs are waiting; retry later"), "headers": retry},
                "503": {**_error("the upload folder is not writable, or the job queue (Redis) is not "
                                 "reachable"), "headers": retry},
            },
        }},
        "/api/v1/videos/{job_id}": {
            "parameters": [job_id, job_token],
            "get": {"summary": "A video job's status, progress and (when done) results",
                    "operationId": "getVideoJob",
                    "responses": {"200": _json("the job", _ref("VideoJob")), "404": not_found}},
            "delete": {"summary": "Cancel a video job and remove its files and results",
                       "operationId": "deleteVideoJob",
                       "responses": {"200": _json("deleted", _object(
                           {"id": {"type": "string"}, "deleted": {"type": "boolean"}})),
                           "404": not_found, "503": queue_down}},
        },
        "/api/v1/videos/{job_id}/results.csv": {"get": {
            "summary": "Per-frame results as CSV", "operationId": "videoResultsCsv",
            "parameters": [job_id, job_token],
            "responses": {"200": {"description": "one row per face per frame",
                                  "content": {"text/csv": {"schema": {"type": "string"}}}},
                          "404": not_found, "409": not_done},
        }},
        "/api/v1/videos/{job_id}/results.json": {"get": {
            "summary": "The full results as a JSON download", "operationId": "videoResultsJson",
            "parameters": [job_id, job_token],
            "responses": {"200": _json("the results", _ref("VideoResults")), "404": not_found,
                          "409": not_done},
        }},
        "/api/v1/videos/{job_id}/frames/{frame}.jpg": {"get": {
            "summary": "One sampled frame (for seeking); only for the job's owner",
            "operationId": "videoFrame",
            "parameters": [job_id, job_token, {"name": "frame", "in": "path", "required": True,
                                               "schema": {"type": "integer", "minimum": 0}}],
            "responses": {"200": {"description": "JPEG, at most 640 px on its longer side",
                                  "content": {"image/jpeg": binary}},
                          "404": _error("no such job or frame, or another owner's job")},
        }},
        "/health": {"get": {"summary": "Liveness", "operationId": "health", "responses": {
            "200": _json("the process answers", _object({"status": {"type": "string", "enum": ["ok"]}}))}}},
        "/ready": {"get": {"summary": "Readiness: the models load and answer", "operationId": "ready",
                           "responses": {
                               "200": _json("ready", _object({"status": {"type": "string", "enum": ["ready"]},
                                                              "jobs": {"type": "string",
                                                                       "enum": ["thread", "rq"]}})),
                               "503": {**_error("not ready: the message names the missing or corrupt "
                                                "model file, or says Redis is not reachable"),
                                       "headers": retry}}}},
        "/session/privacy": {"post": {
            "summary": "Turn 'Keep my captures' on or off for this browser session",
            "operationId": "setPrivacy", "parameters": [csrf],
            "requestBody": {"required": True, "content": {JSON: {"schema": _object(
                {"keep": {"type": "boolean"}})}}},
            "responses": {"200": _json("the new setting", _object({"keep": {"type": "boolean"}})),
                          "400": _error("'keep' missing or not a boolean"),
                          "403": _error("missing or wrong CSRF token")},
        }},
        "/session/clear": {"post": {
            "summary": "Delete this session's kept captures and video jobs",
            "operationId": "clearSession", "parameters": [csrf],
            "responses": {"200": _json("what was removed", _object({
                "cleared": {"type": "boolean"}, "captures": _number(0, integer=True),
                "videos": _number(0, integer=True)})),
                "403": _error("missing or wrong CSRF token"), "503": queue_down},
        }},
        "/session/captures": {"get": {
            "summary": "This session's kept captures, newest first", "operationId": "listCaptures",
            "responses": {"200": _json("the captures", _object({
                "keep": {"type": "boolean"},
                "captures": {"type": "array", "items": _object({
                    "id": {"type": "string"}, "name": {"type": "string", "nullable": True},
                    "created": {**_number(0), "nullable": True}, "url": {"type": "string"}})}}))},
        }},
        "/captures/{capture_id}": {"get": {
            "summary": "A kept capture's image, only for the session that made it",
            "operationId": "getCapture",
            "parameters": [{"name": "capture_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the image as uploaded",
                                  "content": {"image/*": binary}},
                          "404": _error("no such capture for this session")},
        }, "delete": {
            "summary": "Delete one of this session's kept captures", "operationId": "deleteCapture",
            "parameters": [{"name": "capture_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}, csrf],
            "responses": {"200": _json("the deleted capture's id", _object({"deleted": {"type": "string"}})),
                          "403": _error("missing or wrong CSRF token"),
                          "404": _error("no such capture for this session")},
        }},
    }


def openapi_document(config: dict) -> dict:
    """The OpenAPI 3.0 document for this server.

    :param config: the app's config (its limits appear in the descriptions and schemas).
    """
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Face Insight API",
            "version": __version__,
            "description": ("Age, gender and emotion for every face in photos and videos. Errors are "
                            "JSON {\"error\": message}. No face is not an error: 200 with faces: []."),
        },
        "paths": _paths(config),
        "components": {"schemas": _schemas()},
    }
