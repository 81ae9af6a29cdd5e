"""The session's privacy controls and what it keeps: "Keep my captures", Clear session, and
the list, images and deletion of its kept captures and videos (each only for its own session)."""

from __future__ import annotations

import mimetypes

from flask import Blueprint, Response, current_app, jsonify, request, send_file, session
from PIL import Image, UnidentifiedImageError

from faceinsight.contract import Captures
from faceinsight.web.errors import ApiError
from faceinsight.web.requests import read_flag, read_json_body
from faceinsight.web.security import check_csrf, session_id

blueprint = Blueprint("session", __name__)

IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp",
               "BMP": "image/bmp", "TIFF": "image/tiff", "MPO": "image/jpeg", "HEIF": "image/heic"}


@blueprint.post("/session/privacy")
def privacy() -> Response:
    """Turn "Keep my captures" on or off for this session (CSRF-checked)."""
    check_csrf()
    if request.is_json:
        body = read_json_body("the JSON body must be an object with a 'keep' field")
        value = body.get("keep") if isinstance(body, dict) else None
    else:
        value = request.form.get("keep")
    if value is None:
        raise ApiError(400, "the 'keep' field is required (true or false)")
    session["keep"] = read_flag(value, "keep", False)
    session_id()
    return jsonify(keep=session["keep"])


@blueprint.post("/session/clear")
def clear() -> Response:
    """Delete this session's kept captures and video jobs, and forget its choices (CSRF-checked)."""
    check_csrf()
    owner = session_id(create=False)
    captures = videos = 0
    if owner:
        captures = current_app.extensions["faceinsight.captures"].clear(owner)
        videos = current_app.extensions["faceinsight.jobs"].delete_owned(owner)
    token = session.get("csrf")
    session.clear()
    session["csrf"] = token  # the open page keeps working with the token it holds
    return jsonify(cleared=True, captures=captures, videos=videos)


@blueprint.get("/session/captures")
def captures() -> Response:
    """This session's kept captures and kept video jobs (id, name, created, url), newest first."""
    owner = session_id(create=False)
    items = current_app.extensions["faceinsight.captures"].list(owner) if owner else []
    for item in items:
        item["url"] = f"/captures/{item['id']}"
    return jsonify(Captures(keep=bool(session.get("keep")), captures=items,
                            videos=kept_videos(owner) if owner else []).dump())


def kept_videos(owner: str) -> list[dict]:
    """The session's video jobs kept with "Keep my captures" on: listed so that the page can
    delete each one (``DELETE`` its ``url``), not only all at once with "Clear session"."""
    manager = current_app.extensions["faceinsight.jobs"]
    states = (manager.get(job_id) for job_id in manager.store.ids_owned_by(owner))
    kept = [state for state in states if state and state.owner == owner and state.keep]
    return [{"id": state.id, "name": state.name or "video", "created": state.created,
             "status": state.status, "url": f"/api/v1/videos/{state.id}"}
            for state in sorted(kept, key=lambda state: state.created, reverse=True)]


@blueprint.get("/captures/<capture_id>")
def capture(capture_id: str) -> Response:
    """A kept capture's image, only for the session that made it (404 for anyone else)."""
    owner = session_id(create=False)
    path = current_app.extensions["faceinsight.captures"].path(owner, capture_id) if owner else None
    if path is None:
        raise ApiError(404, "not found")
    try:
        with Image.open(path) as image:
            mimetype = IMAGE_TYPES.get(image.format or "", "application/octet-stream")
    except (OSError, UnidentifiedImageError):
        mimetype = "application/octet-stream"
    # Named by its type, so that "Save image as" gives a file that opens (not "<id>.img").
    extension = mimetypes.guess_extension(mimetype) or ".img"
    return send_file(path, mimetype=mimetype, max_age=0, conditional=False,
                     download_name=f"capture-{capture_id[:8]}{extension}")


@blueprint.delete("/captures/<capture_id>")
def delete_capture(capture_id: str) -> Response:
    """Delete one of this session's kept captures (CSRF-checked; 404 for anyone else's)."""
    check_csrf()
    owner = session_id(create=False)
    path = current_app.extensions["faceinsight.captures"].path(owner, capture_id) if owner else None
    if path is None:
        raise ApiError(404, "not found")
    path.with_suffix(".json").unlink(missing_ok=True)  # the record first: never a listed ghost
    path.unlink(missing_ok=True)
    return jsonify(deleted=capture_id)
