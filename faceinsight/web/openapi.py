"""The OpenAPI 3 description of the API, served at ``/api/v1/openapi.json``.

The answers' schemas are generated from :mod:`faceinsight.contract` (pydantic); the routes, their
requests and their status codes are declared here, filled in with the server's configured
limits, so what the file promises is what this server does (schemathesis checks it).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from faceinsight import __version__, contract
from faceinsight.analyze import MAX_FACES
from faceinsight.web.settings import FALSE_WORDS, TRUE_WORDS

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def _error(description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": _ref(contract.Error)}}}


def _json(description: str, schema: dict, headers: dict | None = None) -> dict:
    response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _object(properties: dict, required: list[str] | None = None) -> dict:
    """A request body's object schema (answers are models in :mod:`faceinsight.contract`)."""
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required}


ANSWERS = (contract.Error, contract.Analysis, contract.Predict, contract.VideoJobCreated, contract.VideoJob,
           contract.VideoResults, contract.VideoDeleted, contract.Health, contract.Ready, contract.Privacy,
           contract.Cleared, contract.Captures, contract.CaptureDeleted)


@functools.cache
def _schemas() -> dict[str, dict]:
    """Every answer's JSON schema, generated from the contract's models, by name (``$defs``)."""
    _, top = models_json_schema([(model, "serialization") for model in ANSWERS], ref_template=REF)
    return top["$defs"]


def _flag(form: bool) -> dict:
    """A yes/no field: words in a form; a boolean (or the same words) in JSON."""
    words = {"type": "string", "enum": ["", *TRUE_WORDS, *FALSE_WORDS],
             "description": "case-insensitive; '' means the default"}
    return words if form else {"oneOf": [{"type": "boolean"}, words, {"type": "null"}]}


def _flags(form: bool, keeps: bool) -> dict:
    """The ``detect`` and (where a route may keep the image) ``store`` flags (:func:`_flag`)."""
    schema = _flag(form)
    flags = {
        "detect": {**schema, "default": "true" if form else True,
                   "description": "false: the image already is one face crop (box = whole image), at "
                                  "least 20 pixels a side (422 below), framed as the detector frames "
                                  "a face (brow to chin, ear to ear); a looser crop reads wrongly"},
    }
    if keeps:  # the analyze route (it alone keeps images, and answers with them)
        flags["store"] = {**schema, "default": "true" if form else True,
                          "description": "false: never keep this image, even if the session keeps captures"}
        flags["preview"] = {**schema, "default": "false" if form else False,
                            "description": "true: the answer also carries the image as a small JPEG "
                                           "(`preview`), for a client that cannot show the format sent"}
    return flags


CROSS_SITE = "made with the page's session cookie from another site"  # security.check_origin


def _image_request(max_photo_mb: float, keeps: bool = True) -> dict:
    """A photo route's body; ``keeps``: the route keeps the image for a session that asked."""
    name = {"name": {"type": "string", "description": "display name (kept only with the capture)"}}
    return {"required": True, "content": {
        "multipart/form-data": {"schema": _object(
            {"file": {"type": "string", "format": "binary",
                      "description": f"JPEG, PNG, BMP, WebP, GIF, TIFF or HEIC/HEIF; "
                                     f"at most {max_photo_mb:g} MiB"},
             **_flags(form=True, keeps=keeps)}, required=["file"])},
        JSON: {"schema": _object(
            {"image": {"type": "string", "pattern": r"^data:image/[\w.+-]+;base64,[A-Za-z0-9+/]+={0,2}$",
                       "description": "a data URL: data:image/<type>;base64,<data>"},
             **(name if keeps else {}), **_flags(form=False, keeps=keeps)}, required=["image"])},
    }}



def _photo_errors() -> dict:
    return {
        "400": _error("no file, wrong field name, empty file, malformed JSON, data URL or flag"),
        "403": _error(CROSS_SITE),
        "413": _error("the upload is over the size limit, or the image over the pixel limit"),
        "415": _error("the body is not multipart/JSON, or the file or data URL is not an image type"),
        "422": _error("the bytes are not a readable image (corrupt, truncated, not an image)"),
        "408": _error("the upload arrived too slowly (under the server's floor rate after 10 s)"),
        "503": _error("the analysis queue is full (`Retry-After` says when to come back), or the "
                      "models are missing or corrupt (the message names the file)"),
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
            "description": (f"At most {MAX_FACES} faces are read in one image: when more are found, "
                            f"those the detector is surest of; faces_found says how many were found. "
                            f"Faces are listed in reading order: rows from top to bottom, each from "
                            f"left to right."),
            "operationId": "analyze",
            "requestBody": _image_request(photo_mb),
            "responses": {"200": _json("faces found (an empty list when none)", _ref(contract.Analysis)),
                          **_photo_errors()},
        }},
        "/predict": {"post": {
            "summary": "Legacy single-face answer for the largest face",
            "description": "Never keeps the image, even for a session that keeps its captures.",
            "operationId": "predict",
            "requestBody": _image_request(photo_mb, keeps=False),
            "responses": {"200": _json("the largest face, or nulls", _ref(contract.Predict)),
                          **_photo_errors()},
        }},
        "/api/v1/videos": {"post": {
            "summary": "Start analysing a video in the background",
            "operationId": "createVideoJob",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _object({
                "file": {"type": "string", "format": "binary",
                         "description": f"mp4, webm, avi, mov or mkv; at most {video_mb:g} MiB"},
                "sample_fps": {"type": "number", "exclusiveMinimum": 0,
                               "maximum": max_fps, "description": "frames analysed per second of video"},
            }, required=["file"])}}},
            "responses": {
                "202": {**_json("the job is queued", _ref(contract.VideoJobCreated),
                                {"Location": {"schema": {"type": "string"}}}),
                        "links": {name: {"operationId": op,
                                         "parameters": {"job_id": "$response.body#/id",
                                                        "header.X-Job-Token": "$response.body#/token"}}
                                  for name, op in (("GetVideoJob", "getVideoJob"),
                                                   ("DeleteVideoJob", "deleteVideoJob"),
                                                   ("ResultsCsv", "videoResultsCsv"),
                                                   ("ResultsJson", "videoResultsJson"))}},
                "400": _error("no file, wrong field name, empty file or bad sample_fps"),
                "403": _error(CROSS_SITE),
                "409": _error("the session was cleared after the upload began (Clear session)"),
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
                    "responses": {"200": _json("the job", _ref(contract.VideoJob)), "404": not_found}},
            "delete": {"summary": "Cancel a video job and remove its files and results",
                       "operationId": "deleteVideoJob",
                       "responses": {"200": _json("deleted", _ref(contract.VideoDeleted)),
                           "403": _error(CROSS_SITE),
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
            "responses": {"200": _json("the results", _ref(contract.VideoResults)), "404": not_found,
                          "409": not_done},
        }},
        "/api/v1/videos/{job_id}/frames/{frame}.jpg": {"get": {
            "summary": "One sampled frame (for seeking); only for the job's owner",
            "operationId": "videoFrame",
            "parameters": [job_id, job_token, {"name": "frame", "in": "path", "required": True,
                                               "schema": {"type": "integer", "minimum": 0}}],
            "responses": {"200": {"description": "JPEG, at most 640 px on its longer side; the "
                                                 "results' boxes are in the video's own pixels, so scale "
                                                 "them by this image's width over the video's",
                                  "content": {"image/jpeg": binary}},
                          "404": _error("no such job or frame, or another owner's job")},
        }},
        "/health": {"get": {"summary": "Liveness", "operationId": "health", "responses": {
            "200": _json("the process answers", _ref(contract.Health))}}},
        "/ready": {"get": {"summary": "Readiness: the models load and answer", "operationId": "ready",
                           "responses": {
                               "200": _json("ready", _ref(contract.Ready)),
                               "503": {**_error("not ready: the message names the missing or corrupt "
                                                "model file, or says Redis is not reachable"),
                                       "headers": retry}}}},
        "/session/privacy": {"post": {
            "summary": "Turn 'Keep my captures' on or off for this browser session",
            "operationId": "setPrivacy", "parameters": [csrf],
            "requestBody": {"required": True, "content": {
                JSON: {"schema": _object({"keep": _flag(form=False)})},
                FORM: {"schema": _object({"keep": _flag(form=True)})}}},
            "responses": {"200": _json("the new setting", _ref(contract.Privacy)),
                          "400": _error("'keep' missing or not a boolean"),
                          "403": _error("missing or wrong CSRF token")},
        }},
        "/session/clear": {"post": {
            "summary": "Delete this session's kept captures and video jobs",
            "operationId": "clearSession", "parameters": [csrf],
            "responses": {"200": _json("what was removed", _ref(contract.Cleared)),
                          "403": _error("missing or wrong CSRF token"), "503": queue_down},
        }},
        "/session/captures": {"get": {
            "summary": "This session's kept captures and videos, newest first", "operationId": "listCaptures",
            "responses": {"200": _json("the captures", _ref(contract.Captures))},
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
            "responses": {"200": _json("the deleted capture's id", _ref(contract.CaptureDeleted)),
                          "403": _error("missing or wrong CSRF token"),
                          "404": _error("no such capture for this session")},
        }},
    }


def openapi_document(config: dict) -> dict:
    """The OpenAPI 3.1 document for this server.

    :param config: the app's config (its limits appear in the descriptions and schemas).
    """
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Face Insight API",
            "version": __version__,
            "description": ("Age, gender and emotion for every face in photos and videos. Errors are "
                            "JSON {\"error\": message}. No face is not an error: 200 with faces: []."),
        },
        "paths": _paths(config),
        "components": {"schemas": copy.deepcopy(_schemas())},
    }
