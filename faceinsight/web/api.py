"""The photo API: ``POST /api/v1/analyze``, the legacy ``POST /predict`` and the OpenAPI file."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from flask import Blueprint, Response, current_app, jsonify, request, session, url_for

from faceinsight.analyze import analyze_bytes, largest_face
from faceinsight.contract import Analysis, Predict, Stored
from faceinsight.images import ImageDecodeError, ImageRefusedError, ImageTooLargeError
from faceinsight.labels import whole_years
from faceinsight.web.admission import ClientGoneError, ServerBusyError, client_gone
from faceinsight.web.captures import SessionClearedError
from faceinsight.web.errors import ApiError
from faceinsight.web.openapi import openapi_document
from faceinsight.web.quota import KEEPING, keep_refusal
from faceinsight.web.requests import (
    check_photo_type,
    clean_name,
    decode_data_url,
    form_field,
    read_flag,
    read_json_body,
    read_part,
    uploaded_file,
)
from faceinsight.web.security import session_id
from faceinsight.web.settings import MB

log = logging.getLogger(__name__)
blueprint = Blueprint("api", __name__)
FLAGS = ("detect", "store", "preview")  # the photo routes' yes/no fields
DEFAULTS = {"detect": True, "store": True, "preview": False}  # each flag's value when not sent
PREVIEW_SIDE = 1600  # pixels: the longer side of a preview (for a format the browser cannot show)


@dataclass(frozen=True)
class ImageRequest:
    """An analysis request, whichever way it came (multipart or JSON data URL).

    :param data: the image bytes.
    :param name: the cleaned display name.
    :param detect: False when the image already is one face crop.
    :param store: False when the client asks not to keep this image even if the session opted in.
    :param preview: True when the answer should carry the image as a JPEG (a browser that cannot
        show HEIC or TIFF draws the boxes on it).
    """

    data: bytes
    name: str
    detect: bool
    store: bool
    preview: bool = False


def read_image_request() -> ImageRequest:
    """Parse the current request into an :class:`ImageRequest`.

    :raises ApiError: 400/413/415 with a message for each kind of bad input.
    """
    limit = int(current_app.config["FACEINSIGHT_MAX_PHOTO_MB"] * MB)
    for name in FLAGS:
        if name in request.args:  # else ignored: the answer would not be the one asked for
            raise ApiError(400, f"send {name!r} in the request body beside the image, not in the URL")
    if request.mimetype == "application/json":
        expected = "the JSON body must be an object with an 'image' data URL"
        body = read_json_body(expected)
        if not isinstance(body, dict):
            raise ApiError(400, expected)
        if "image" not in body:
            raise ApiError(400, "the JSON body needs an 'image' field holding a data URL")
        data = decode_data_url(body["image"], limit)
        name = clean_name(body["name"]) if isinstance(body.get("name"), str) else ""
        flags = (read_flag(body.get(flag), flag, DEFAULTS[flag]) for flag in FLAGS)
        return ImageRequest(data, name, *flags)
    part = uploaded_file(request)
    name = clean_name(part.filename)
    check_photo_type(name, part.mimetype or "")
    data = read_part(part, limit)
    flags = (read_flag(form_field(request, flag, "true or false"), flag, DEFAULTS[flag]) for flag in FLAGS)
    return ImageRequest(data, name, *flags)


def run_analysis(image: ImageRequest) -> Analysis:
    """Decode and analyse in one of the process's analysis slots, mapping the pipeline's errors
    to 413 (too many pixels, a side too long) and 422 (unreadable, an extreme shape, too many
    JPEG scans), and a full queue to 503 with ``Retry-After``.

    :param image: the parsed request.
    """
    gate = current_app.extensions["faceinsight.analysis_gate"]
    try:
        with gate.slot(lambda: client_gone(request.environ)):
            return analyze_bytes(image.data, detect=image.detect,
                                 max_pixels=current_app.config["FACEINSIGHT_MAX_PIXELS"],
                                 preview_side=PREVIEW_SIDE if image.preview else 0)
    except ServerBusyError as error:
        raise ApiError(503, str(error), {"Retry-After": str(error.retry_after_s)}) from error
    except ClientGoneError as error:
        log.info("a photo's client left before its analysis began: not analysed")
        raise ApiError(400, "the client closed the connection before the analysis began") from error
    except ImageTooLargeError as error:
        raise ApiError(413, str(error)) from error
    except ImageRefusedError as error:
        raise ApiError(422, f"the image is not analysed: {error}") from error
    except ImageDecodeError as error:
        said = str(error)  # "the image could not be decoded: ..." needs no second "could not"
        message = said if said.startswith("the image") else f"the image could not be read: {said}"
        raise ApiError(422, message) from error


def keep_capture(image: ImageRequest, analysis: Analysis) -> dict | None:
    """Store the image for a session that opted in; the answer's fields that say what
    happened (``stored`` or ``storage_error``), or None.

    A full or read-only upload folder, or a session past its quota (:mod:`quota`), does not
    fail the analysis: the response says why nothing was kept.

    :param image: the parsed request.
    :param analysis: the analysis; kept with the image as returned, less its preview.
    """
    if not (image.store and session.get("keep")):
        return None
    owner = session_id()
    try:
        store = current_app.extensions["faceinsight.captures"]
        with KEEPING:
            if refusal := keep_refusal(owner, len(image.data)):
                return {"storage_error": f"the capture was not kept: {refusal}"}
            capture_id = store.save(owner, image.data, image.name, analysis.dump(exclude={"preview"}))
    except SessionClearedError:
        return None  # sent before Clear session, answered after it: kept nowhere, as asked
    except OSError as error:
        log.warning("could not keep a capture: %s", error)
        return {"storage_error": f"the capture could not be kept: {error.strerror or error}"}
    return {"stored": Stored(id=capture_id, url=url_for("session.capture", capture_id=capture_id))}


@blueprint.post("/api/v1/analyze")
def analyze() -> Response:
    """Every face in one image: boxes, age, gender and emotion, as ``predict.py --json`` gives them."""
    image = read_image_request()
    analysis = run_analysis(image)
    kept = keep_capture(image, analysis)
    return jsonify((analysis.model_copy(update=kept) if kept else analysis).dump())


@blueprint.post("/predict")
def predict() -> Response:
    """The older single-face answer (largest face) for clients of the tools this replaces."""
    image = replace(read_image_request(), preview=False)  # the older shape has no image
    analysis = run_analysis(image)
    face = largest_face(analysis.faces)  # the faces come in reading order, not largest first
    if face is None:
        answer = Predict(age=None, gender=None, gender_probability=None, emotion=None, faces=0)
    else:
        answer = Predict(age=whole_years(face.age), gender=face.gender,
                         gender_probability=face.gender_probability, emotion=face.emotion,
                         faces=analysis.faces_found)
    return jsonify(answer.dump())


@blueprint.get("/api/v1/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 description of this API, with this server's configured limits."""
    return jsonify(openapi_document(current_app.config))
