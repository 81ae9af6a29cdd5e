"""The page, and the liveness and readiness checks."""

from __future__ import annotations

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, render_template, session

from faceinsight.crops import AGE_GENDER_SIZE, EMOTION_SIZE
from faceinsight.labels import EMOTIONS
from faceinsight.litert import ModelError
from faceinsight.models import get_models
from faceinsight.web.errors import error_response
from faceinsight.web.security import csrf_token, session_id

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
def index() -> str:
    """The one page: webcam, photo and video modes and the session log."""
    config = current_app.config
    session_id()
    return render_template(
        "index.html", keep=bool(session.get("keep")), csrf=csrf_token(),
        max_photo_mb=config["FACEINSIGHT_MAX_PHOTO_MB"], max_video_mb=config["FACEINSIGHT_MAX_VIDEO_MB"],
        default_fps=config["FACEINSIGHT_VIDEO_DEFAULT_FPS"], max_fps=config["FACEINSIGHT_VIDEO_MAX_FPS"],
        retention_hours=config["FACEINSIGHT_RETENTION_HOURS"],
        job_ttl_minutes=config["FACEINSIGHT_JOB_TTL_MINUTES"], emotions=EMOTIONS)


@blueprint.get("/health")
def health() -> Response:
    """Liveness: the process answers (models are not touched)."""
    return jsonify(status="ok")


@blueprint.get("/ready")
def ready() -> Response:
    """Readiness: the models load and answer one prediction; 503 with the reason when not."""
    try:
        models = get_models()
        models.predict(np.zeros((AGE_GENDER_SIZE, AGE_GENDER_SIZE), np.uint8),
                       np.zeros((EMOTION_SIZE, EMOTION_SIZE), np.uint8))
    except ModelError as error:
        return error_response(503, f"the models are not available: {error}", {"Retry-After": "30"})
    jobs = current_app.extensions["faceinsight.jobs"]
    jobs.ping()  # with REDIS_URL: a Redis outage makes this 503 (see errors.py)
    return jsonify(status="ready", jobs=jobs.backend)
