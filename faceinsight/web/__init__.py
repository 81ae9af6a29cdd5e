"""The Face Insight web app: one page (webcam, photo, video), a JSON API and video jobs.

``create_app()`` is the factory gunicorn and ``app.py`` call. Every setting comes from an
environment variable (see :mod:`faceinsight.web.settings`); ``config`` overrides them (tests).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import IO, Any

from flask import Flask, Request, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from faceinsight.jobs.manager import JobManager
from faceinsight.litert import ModelError
from faceinsight.models import get_models
from faceinsight.paths import STATIC, TEMPLATES
from faceinsight.web import api, apidocs, pages, session, videos
from faceinsight.web.admission import AnalysisGate, ClientDeadlines
from faceinsight.web.captures import CaptureStore
from faceinsight.web.errors import STATED_LIMIT_MB, register_error_handlers
from faceinsight.web.requests import spool_file, sweep_spool
from faceinsight.web.security import configure_security
from faceinsight.web.settings import MB, load_settings

log = logging.getLogger(__name__)

# Room for the multipart envelope around the file, and base64's 4/3 growth in JSON bodies.
MULTIPART_SLACK = 64 * 1024
UPLOAD_GRACE_S = 10.0  # seconds before an upload's rate floor applies
VIDEO_ENDPOINTS = frozenset({"videos.create"})
SPOOL_MAX_AGE_S = 3600  # a video part untouched this long was left by a process that ended


class Sweeper:
    """Runs the age-based sweep of stored uploads (kept captures, video jobs) off the request
    path: on a timer, so that an idle server still removes what has expired, and at most once
    per interval when requests come.

    :param app: the app whose stores are swept.
    :param interval_s: seconds between sweeps; 0 turns sweeping off (and starts no thread).
    """

    def __init__(self, app: Flask, interval_s: float):
        self.app = app
        self.interval_s = interval_s
        self._last = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.timer: threading.Thread | None = None
        if interval_s > 0:
            # The thread holds the sweeper weakly, so an app dropped without stop() (tests)
            # lets its thread end instead of keeping both alive.
            self.timer = threading.Thread(target=_sweep_every, name="upload-sweep-timer", daemon=True,
                                          args=(weakref.ref(self), interval_s, self._stop))
            self.timer.start()

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
        """Sweep now; returns (captures removed, jobs removed). Never raises: a store whose
        sweep fails is logged and tried again next time, and the other is still swept."""
        config, extensions = self.app.config, self.app.extensions
        captures = _logged_sweep("kept capture", lambda: extensions["faceinsight.captures"].sweep(
            config["FACEINSIGHT_RETENTION_HOURS"] * 3600))
        jobs = _logged_sweep("video job", extensions["faceinsight.jobs"].sweep)
        _logged_sweep("spooled upload",
                      lambda: sweep_spool(config["FACEINSIGHT_UPLOAD_DIR"], SPOOL_MAX_AGE_S))
        if captures or jobs:
            log.info("sweep removed %d captures and %d video jobs", captures, jobs)
        return captures, jobs

    def stop(self) -> None:
        """End the timer thread (tests; a server process just exits)."""
        self._stop.set()


def _logged_sweep(name: str, sweep: Callable[[], int]) -> int:
    """How many items ``sweep`` removed; 0, logged, when it fails (never a request's problem)."""
    try:
        return sweep()
    except Exception:
        log.exception("%s sweep failed", name)
        return 0


def _sweep_every(sweeper_ref: Callable[[], Sweeper | None], interval_s: float,
                 stop: threading.Event) -> None:
    """The timer thread: sweep each interval until stopped or the sweeper's app is gone."""
    while not stop.wait(interval_s):
        sweeper = sweeper_ref()  # a local only: the sweeper is not held between sweeps
        if sweeper is None:
            return
        sweeper.run()
        del sweeper


def recover_jobs_in_background(manager: JobManager) -> threading.Thread:
    """At start-up, re-queue (or fail, saying why) the video jobs whose process or RQ job has
    gone, off the start-up path (a large jobs folder takes a while to read).

    :param manager: this app's jobs.
    """
    def recover() -> None:
        if count := _logged_sweep("video job recovery", manager.recover):
            log.warning("%d video jobs had lost their runner: queued again or failed", count)

    thread = threading.Thread(target=recover, name="job-recovery", daemon=True)
    thread.start()
    return thread


class FaceInsightRequest(Request):
    """Flask's request, with a video part spooled in the upload folder (:func:`spool_file`),
    and removed when the request ends, even one whose body stopped half-way."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        if self.endpoint in VIDEO_ENDPOINTS and filename is not None:
            spool = spool_file(current_app.config["FACEINSIGHT_UPLOAD_DIR"])
            if spool is not None:
                self.__dict__.setdefault("faceinsight_spools", []).append(spool)
                return spool
        return super()._get_file_stream(total_content_length, content_type, filename, content_length)

    def close(self) -> None:
        """Close (so delete) the spooled parts too: a part whose parsing failed (a client gone,
        a full disk) is in no ``files`` for Werkzeug to close."""
        for spool in self.__dict__.pop("faceinsight_spools", []):
            with contextlib.suppress(OSError):
                spool.close()
        super().close()


def _limit_request_size() -> None:
    """Before each request: the body limit for its kind (video or photo), so 413 comes early."""
    config = current_app.config
    if request.endpoint in VIDEO_ENDPOINTS:
        stated = config["FACEINSIGHT_MAX_VIDEO_MB"]
        limit = stated * MB
    else:
        stated = config["FACEINSIGHT_MAX_PHOTO_MB"]
        limit = stated * MB * 4 / 3  # a base64 data URL in JSON
    request.max_content_length = int(limit) + MULTIPART_SLACK
    request.environ[STATED_LIMIT_MB] = stated  # the 413's message names the documented limit
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


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
LARGE_BUFFER = 4 << 20  # bytes: buffers this large come from the OS and go back to it when freed


def return_large_buffers_to_the_os() -> bool:
    """Have glibc map every buffer of :data:`LARGE_BUFFER` (4 MiB) or more on its own, and
    unmap it when freed.

    By default glibc raises that threshold as large buffers come and go, up to 32 MiB, and
    then keeps them in its heaps: after four 40 MP PNGs at once a worker stayed at 1.3 GiB,
    holding memory no request used. A fixed threshold keeps a worker at its working size.
    Setting it again (each ``create_app``) changes nothing; elsewhere than glibc (musl, macOS)
    nothing is done.

    :returns: whether the setting took.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        # glibc's own rule for the heap's free top, which a fixed threshold would leave at
        # 128 KiB (trimmed and regrown on every photo: 10 % slower)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, LARGE_BUFFER)
                    and libc.mallopt(M_TRIM_THRESHOLD, 2 * LARGE_BUFFER))
    except (OSError, AttributeError):
        return False


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
    return_large_buffers_to_the_os()
    if settings["FACEINSIGHT_CHECK_MODELS"]:
        load_models_or_stop()
    app = Flask(__name__, template_folder=str(TEMPLATES),
                static_folder=str(STATIC), static_url_path="/static",
                instance_path=str(settings["FACEINSIGHT_INSTANCE_DIR"]))
    app.config.update(config)
    app.config.update(settings)
    app.config["MAX_CONTENT_LENGTH"] = int(max(settings["FACEINSIGHT_MAX_VIDEO_MB"],
                                               settings["FACEINSIGHT_MAX_PHOTO_MB"] * 4 / 3) * MB
                                           + MULTIPART_SLACK)
    app.json.sort_keys = False  # keep faces in the CLI's key order
    app.request_class = FaceInsightRequest
    configure_security(app)
    register_error_handlers(app)

    upload_dir = settings["FACEINSIGHT_UPLOAD_DIR"]
    app.extensions["faceinsight.captures"] = CaptureStore(upload_dir)
    app.extensions["faceinsight.jobs"] = JobManager(
        upload_dir, redis_url=settings["REDIS_URL"], workers=settings["FACEINSIGHT_JOB_WORKERS"],
        max_pending=settings["FACEINSIGHT_JOB_QUEUE"], queue_name=settings["FACEINSIGHT_RQ_QUEUE"],
        job_ttl_s=settings["FACEINSIGHT_JOB_TTL_MINUTES"] * 60,
        retention_s=settings["FACEINSIGHT_RETENTION_HOURS"] * 3600)
    recover_jobs_in_background(app.extensions["faceinsight.jobs"])
    app.extensions["faceinsight.sweeper"] = Sweeper(app, settings["FACEINSIGHT_SWEEP_MINUTES"] * 60)
    app.extensions["faceinsight.analysis_gate"] = AnalysisGate(
        settings["FACEINSIGHT_ANALYSIS_SLOTS"], settings["FACEINSIGHT_ANALYSIS_QUEUE"])
    app.wsgi_app = ClientDeadlines(app.wsgi_app, settings["FACEINSIGHT_CLIENT_TIMEOUT_SECONDS"],
                                   settings["FACEINSIGHT_MIN_UPLOAD_KBPS"] * 1000, UPLOAD_GRACE_S)
    if hops := settings["FACEINSIGHT_PROXY_HOPS"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.before_request(_limit_request_size)
    for module in (pages, session, api, apidocs, videos):
        app.register_blueprint(module.blueprint)
    return app
