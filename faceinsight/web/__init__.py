"""The Face Insight web app: one page (webcam, photo, video), a JSON API and video jobs.

``create_app()`` is the factory gunicorn and ``app.py`` call. Every setting comes from an
environment variable (see :mod:`faceinsight.web.settings`); ``config`` overrides them (tests).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask, current_app, request

from faceinsight.jobs import JobManager
from faceinsight.models import ModelError, get_models
from faceinsight.web import api, pages, videos
from faceinsight.web.errors import register_error_handlers
from faceinsight.web.security import configure_security
from faceinsight.web.settings import MB, PROJECT_ROOT, load_settings
from faceinsight.web.uploads import CaptureStore

log = logging.getLogger(__name__)

# Room for the multipart envelope around the file, and base64's 4/3 growth in JSON bodies.
MULTIPART_SLACK = 64 * 1024
VIDEO_ENDPOINTS = frozenset({"videos.create"})


class Sweeper:
    """Runs the age-based sweep of stored uploads at most once per interval, off the request path.

    :param app: the app whose stores are swept.
    :param interval_s: seconds between sweeps; 0 turns sweeping off.
    """

    def __init__(self, app: Flask, interval_s: float):
        self.app = app
        self.interval_s = interval_s
        self._last = 0.0
        self._lock = threading.Lock()

    def maybe_start(self) -> None:
        """Start a sweep in a daemon thread if one is due (called before each request)."""
        if self.interval_s <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if self._last and now - self._last < self.interval_s:
                return
            self._last = now
        threading.Thread(target=self.run, name="upload-sweep", daemon=True).start()

    def run(self) -> tuple[int, int]:
        """Sweep now; returns (captures removed, jobs removed)."""
        config = self.app.config
        try:
            captures = self.app.extensions["faceinsight.captures"].sweep(
                config["FACEINSIGHT_RETENTION_HOURS"] * 3600)
            jobs = self.app.extensions["faceinsight.jobs"].sweep()
        except Exception:  # a sweep problem must never take a request down
            log.exception("upload sweep failed")
            return 0, 0
        if captures or jobs:
            log.info("sweep removed %d captures and %d video jobs", captures, jobs)
        return captures, jobs


def _limit_request_size() -> None:
    """Before each request: the body limit for its kind (video or photo), so 413 comes early."""
    config = current_app.config
    if request.endpoint in VIDEO_ENDPOINTS:
        limit = config["FACEINSIGHT_MAX_VIDEO_MB"] * MB
    else:
        limit = config["FACEINSIGHT_MAX_PHOTO_MB"] * MB * 4 / 3  # a base64 data URL in JSON
    request.max_content_length = int(limit) + MULTIPART_SLACK
    current_app.extensions["faceinsight.sweeper"].maybe_start()


def load_models_or_stop() -> None:
    """Load (and so verify) the models now; a missing or corrupt file stops start-up.

    :raises ModelError: naming the file, after logging it as the reason the app cannot start.
    """
    try:
        get_models()
    except ModelError as error:
        log.critical("Face Insight cannot start: %s", error)
        raise


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app.

    :param config: values that override the environment (same names as the variables, e.g.
        ``FACEINSIGHT_UPLOAD_DIR``) and plain Flask settings (``TESTING``, ``SECRET_KEY``).
    :raises SettingError: a setting does not parse or is out of range (one line naming it;
        checked before anything is loaded or written).
    :raises ModelError: a model file is missing or corrupt (unless ``FACEINSIGHT_CHECK_MODELS``
        is off, when ``/ready`` reports it instead).
    """
    config = dict(config or {})
    settings = load_settings(overrides=config)
    if settings["FACEINSIGHT_CHECK_MODELS"]:
        load_models_or_stop()
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"), static_url_path="/static",
                instance_path=str(settings["FACEINSIGHT_INSTANCE_DIR"]))
    app.config.update(config)
    app.config.update(settings)
    app.config["MAX_CONTENT_LENGTH"] = int(max(settings["FACEINSIGHT_MAX_VIDEO_MB"],
                                               settings["FACEINSIGHT_MAX_PHOTO_MB"] * 4 / 3) * MB
                                           + MULTIPART_SLACK)
    app.json.sort_keys = False  # keep faces in the CLI's key order
    configure_security(app)
    register_error_handlers(app)

    upload_dir = settings["FACEINSIGHT_UPLOAD_DIR"]
    app.extensions["faceinsight.captures"] = CaptureStore(upload_dir)
    app.extensions["faceinsight.jobs"] = JobManager(
        upload_dir, redis_url=settings["REDIS_URL"], workers=settings["FACEINSIGHT_JOB_WORKERS"],
        max_pending=settings["FACEINSIGHT_JOB_QUEUE"], queue_name=settings["FACEINSIGHT_RQ_QUEUE"],
        job_ttl_s=settings["FACEINSIGHT_JOB_TTL_MINUTES"] * 60,
        retention_s=settings["FACEINSIGHT_RETENTION_HOURS"] * 3600)
    app.extensions["faceinsight.sweeper"] = Sweeper(app, settings["FACEINSIGHT_SWEEP_MINUTES"] * 60)
    app.before_request(_limit_request_size)
    for module in (pages, api, videos):
        app.register_blueprint(module.blueprint)
    return app
