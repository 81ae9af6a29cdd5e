"""The page, and the liveness and readiness checks."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from annotated_types import MaxLen
from flask import Blueprint, Response, current_app, jsonify, render_template, session
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from faceinsight.contract import Face
from faceinsight.crops import AGE_GENDER_SIZE, EMOTION_SIZE
from faceinsight.labels import EMOTIONS
from faceinsight.litert import ModelError
from faceinsight.models import get_models
from faceinsight.video.results import CSV_FIELDS, csv_row
from faceinsight.web.errors import error_response
from faceinsight.web.security import csrf_token, session_id

blueprint = Blueprint("pages", __name__)


class _Paths(dict):
    """A record each of whose values is its own name (a key not set names itself)."""

    def __missing__(self, key: str) -> str:
        return key


def _path_of(name: str, info: FieldInfo) -> Any:
    """A :class:`Face` field's value in a record of paths: a list or a mapping of paths for a
    field of parts (``box.0``, ``emotion_scores.happy``), else the field's name."""
    if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
        return {part: f"{name}.{part}" for part in info.annotation.model_fields}
    length = next((rule.max_length for rule in info.metadata if isinstance(rule, MaxLen)), 0)
    return [f"{name}.{i}" for i in range(length)] if length else name


@functools.cache  # the same for every page view: derived once per process
def csv_columns() -> tuple[tuple[str, str], ...]:
    """The video CSV's columns, each with where its value is in a frame's face record as a
    dotted path ("time_s", "track", "box.0", "emotion_scores.happy"). The page writes a live
    recording's CSV from these, so both CSVs have one layout, derived in one place: the paths
    come from running :func:`~faceinsight.video.results.csv_row` on a record of paths."""
    face = _Paths({name: _path_of(name, info) for name, info in Face.model_fields.items()})
    return tuple(zip(CSV_FIELDS, csv_row(_Paths(), face), strict=True))


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
        job_ttl_minutes=config["FACEINSIGHT_JOB_TTL_MINUTES"], emotions=EMOTIONS,
        csv_columns=csv_columns())


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
