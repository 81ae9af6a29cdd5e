"""The web app's settings: every knob is an environment variable with a documented default.

``SETTINGS`` is the one table (name, default, meaning) the README's configuration section is
written from; :func:`load_settings` parses the environment and any overrides into typed values
that land in ``app.config`` under the same names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceinsight.pipeline import DEFAULT_MAX_PIXELS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


@dataclass(frozen=True)
class Setting:
    """One configurable value.

    :param name: the environment variable (and ``app.config`` key).
    :param default: the value when the variable is unset (already typed).
    :param parse: turns the variable's text into the typed value.
    :param help: one line for the README.
    """

    name: str
    default: Any
    parse: Callable[[str], Any]
    help: str


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def _bool(text: str) -> bool:
    """A yes/no setting; anything else stops start-up (a typo must not silently mean 'no')."""
    word = text.strip().lower()
    if word in TRUE_WORDS | FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError(f"write one of {', '.join(sorted(TRUE_WORDS | FALSE_WORDS))}")


def _path(text: str) -> Path:
    return Path(text).expanduser()


def _optional(text: str) -> str | None:
    return text.strip() or None


SETTINGS: tuple[Setting, ...] = (
    Setting("FACEINSIGHT_SECRET_KEY", None, _optional,
            "signs session cookies; unset: a random key is generated once per install and kept in "
            "`secret_key` in the instance folder"),
    Setting("FACEINSIGHT_INSTANCE_DIR", PROJECT_ROOT / "instance", _path,
            "per-install private files (the generated secret key)"),
    Setting("FACEINSIGHT_UPLOAD_DIR", PROJECT_ROOT / "uploads", _path,
            "kept captures and video jobs (RQ workers must see it at the same path)"),
    Setting("FACEINSIGHT_MAX_PHOTO_MB", 10.0, float, "largest photo upload, in MiB (413 above)"),
    Setting("FACEINSIGHT_MAX_VIDEO_MB", 100.0, float, "largest video upload, in MiB (413 above)"),
    Setting("FACEINSIGHT_MAX_PIXELS", DEFAULT_MAX_PIXELS, int,
            "largest image (or video frame) in pixels, checked before decoding (413 for a photo, "
            "422 for a video)"),
    Setting("FACEINSIGHT_VIDEO_MAX_SECONDS", 600.0, float, "longest video accepted, in seconds (422)"),
    Setting("FACEINSIGHT_VIDEO_MAX_FRAMES", 1200, int,
            "most frames one video job analyses (duration x sampling rate; 422 above)"),
    Setting("FACEINSIGHT_VIDEO_DEFAULT_FPS", 2.0, float, "sampling rate when the request gives none"),
    Setting("FACEINSIGHT_VIDEO_MAX_FPS", 10.0, float, "highest sampling rate a request may ask for"),
    Setting("FACEINSIGHT_DECODER_MEMORY_MB", 2048, int,
            "memory (address space, MiB) of the child process that decodes an uploaded video"),
    Setting("FACEINSIGHT_DECODER_PROBE_SECONDS", 20.0, float,
            "CPU and wall-clock seconds the upload check may spend decoding a video (422 above)"),
    Setting("FACEINSIGHT_DECODER_READ_SECONDS", 1200.0, float,
            "CPU seconds a video job's decoding child may use to read its frames (the job fails above)"),
    Setting("FACEINSIGHT_JOB_WORKERS", 1, int,
            "video jobs run at once per server process (in-process backend)"),
    Setting("FACEINSIGHT_JOB_QUEUE", 8, int,
            "video jobs waiting or running per process (per RQ queue with Redis); 429 above"),
    Setting("FACEINSIGHT_JOB_TTL_MINUTES", 60.0, float,
            "a video job (frames, results) is removed this long after its last activity, "
            "unless the user keeps captures"),
    Setting("FACEINSIGHT_RETENTION_HOURS", 24.0, float,
            "kept captures and kept video jobs are swept this long after they were made"),
    Setting("FACEINSIGHT_SWEEP_MINUTES", 10.0, float, "how often the age-based sweep runs; 0 turns it off"),
    Setting("FACEINSIGHT_CHECK_MODELS", True, _bool,
            "verify and load the models at start-up: a missing or corrupt model file stops the "
            "server with a message naming it; 0: load on first use (/ready answers 503 until then)"),
    Setting("FACEINSIGHT_SECURE_COOKIES", False, _bool,
            "mark the session cookie Secure (set it to 1 when served over https)"),
    Setting("REDIS_URL", None, _optional,
            "set: video jobs go to an RQ queue on this Redis; unset: in-process thread pool"),
    Setting("FACEINSIGHT_RQ_QUEUE", "faceinsight", str, "the RQ queue name the workers listen on"),
)


def load_settings(environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Typed settings from the environment, then the caller's overrides.

    :param environ: the variables to read (default: ``os.environ``).
    :param overrides: values that win over the environment (e.g. ``create_app``'s config).
    :raises ValueError: a variable is set to text its parser rejects (named in the message).
    """
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            values[setting.name] = overrides[setting.name]
            continue
        raw = environ.get(setting.name)
        if raw is None or raw == "":
            values[setting.name] = setting.default
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as error:
            raise ValueError(f"{setting.name}={raw!r} is not valid: {error}") from error
    for key in ("FACEINSIGHT_INSTANCE_DIR", "FACEINSIGHT_UPLOAD_DIR"):
        values[key] = Path(values[key]).resolve()
    return values


def settings_table() -> str:
    """The settings as a Markdown table (name, default, meaning) for the README."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = setting.default
        if isinstance(default, Path):
            default = default.relative_to(PROJECT_ROOT).as_posix() + "/"
        elif isinstance(default, bool):
            default = int(default)
        elif isinstance(default, float) and default.is_integer():
            default = int(default)
        shown = "unset" if default is None else f"`{default}`"
        rows.append(f"| `{setting.name}` | {shown} | {setting.help} |")
    rows.append("| `FACEINSIGHT_MODELS` | `models/` | the models folder (read by faceinsight.models) |")
    rows.append("| `FACEINSIGHT_DETECTOR` | the manifest's (`blazeface`) | the face detector: `blazeface` "
                "or `haar`; each model must ship a crop geometry for it, or start-up stops |")
    rows.append("| `PORT` / `GUNICORN_BIND` | `8000` on 127.0.0.1 | where gunicorn listens (`PORT` alone "
                "binds 0.0.0.0, as platforms expect) |")
    rows.append("| `WEB_CONCURRENCY` / `GUNICORN_THREADS` | `2` / `4` | gunicorn workers and threads "
                "(2-core default) |")
    return "\n".join(rows)
