"""The web app's settings: every knob is an environment variable with a documented default.

``SETTINGS`` is the one table (name, default, meaning) the README's configuration section is
written from; :func:`load_settings` parses the environment and any overrides into typed values
that land in ``app.config`` under the same names. A value it cannot use (not a number, out of
range, a yes/no typo) raises :class:`SettingError`, one line naming the setting, the value given
and what is accepted.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceinsight.images import DEFAULT_MAX_PIXELS
from faceinsight.paths import WRITABLE_ROOT

MB = 1024 * 1024


def mib(size: float) -> str:
    """A size in bytes as the docs write a limit: 10 MiB, 0.5 MiB."""
    return f"{size / MB:g} MiB"


class SettingError(ValueError, RuntimeError):
    """A setting's value cannot be used; the message is one line for the operator.

    A RuntimeError so that gunicorn, which gets it from ``on_starting``, prints ``Error: ...``
    and exits 1 without a traceback (as for a bad model file); a ValueError as before.
    """


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


@dataclass(frozen=True)
class Number:
    """A numeric setting's parser: a count or a quantity, and the smallest value that makes sense.

    Raises ValueError with what is accepted (:func:`load_settings` adds the name and the value).

    :param whole: a count (int) rather than a quantity (float).
    :param zero: 0 is accepted too (it means "off"); otherwise the value must be above 0.
    """

    whole: bool = False
    zero: bool = False

    @property
    def accepts(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        return f"{kind} {'of 0 or more' if self.zero else 'above 0'}"

    def __call__(self, raw: object) -> int | float:
        """``raw``: the variable's text, or an already typed override (checked the same way)."""
        value = self._convert(raw)
        finite = self.whole or math.isfinite(value)  # an int is finite (and may be too big for a float)
        if not (finite and (value >= 0 if self.zero else value > 0)):
            raise ValueError(self.accepts)
        return value

    def _convert(self, raw: object) -> int | float:
        if isinstance(raw, str):
            try:
                return int(raw) if self.whole else float(raw)
            except ValueError:
                raise ValueError(self.accepts) from None
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError(self.accepts)
        if self.whole and not float(raw).is_integer():
            raise ValueError(self.accepts)
        return int(raw) if self.whole else float(raw)


QUANTITY = Number()  # sizes, durations, rates: above 0
COUNT = Number(whole=True)  # pixels, frames, MiB of memory, workers, queue length: 1 or more
QUANTITY_OR_OFF = Number(zero=True)  # 0 turns the feature off


# How a yes/no setting, form field or JSON flag may say yes... or no, in any case.
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def _bool(text: str) -> bool:
    """A yes/no setting; anything else stops start-up (a typo must not silently mean 'no')."""
    word = text.strip().lower()
    if word in TRUE_WORDS + FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError(f"one of {', '.join(sorted(TRUE_WORDS))} or {', '.join(sorted(FALSE_WORDS))}")


def _path(text: str) -> Path:
    return Path(text).expanduser()


def _optional(text: str) -> str | None:
    return text.strip() or None


SETTINGS: tuple[Setting, ...] = (
    Setting("FACEINSIGHT_SECRET_KEY", None, _optional,
            "signs session cookies; unset: a random key is generated once per install and kept in "
            "`secret_key` in the instance folder"),
    Setting("FACEINSIGHT_INSTANCE_DIR", WRITABLE_ROOT / "instance", _path,
            "per-install private files (the generated secret key)"),
    Setting("FACEINSIGHT_UPLOAD_DIR", WRITABLE_ROOT / "uploads", _path,
            "kept captures and video jobs (RQ workers must see it at the same path)"),
    Setting("FACEINSIGHT_MAX_PHOTO_MB", 10.0, QUANTITY, "largest photo upload, in MiB (413 above)"),
    Setting("FACEINSIGHT_MAX_VIDEO_MB", 100.0, QUANTITY, "largest video upload, in MiB (413 above)"),
    Setting("FACEINSIGHT_MAX_PIXELS", DEFAULT_MAX_PIXELS, COUNT,
            "largest image (or video frame) in pixels, checked before decoding (413 for a photo, "
            "422 for a video)"),
    Setting("FACEINSIGHT_ANALYSIS_SLOTS", 2, COUNT,
            "photo analyses run at once per server process (about its cores); others wait in its queue"),
    Setting("FACEINSIGHT_ANALYSIS_QUEUE", 8, COUNT,
            "photos waiting for an analysis slot per process; 503 with `Retry-After` above (and after "
            "30 s of waiting)"),
    Setting("FACEINSIGHT_CLIENT_TIMEOUT_SECONDS", 20.0, QUANTITY,
            "a read or write of a client's connection that makes no progress this long ends it"),
    Setting("FACEINSIGHT_MIN_UPLOAD_KBPS", 8.0, QUANTITY,
            "after 10 s, an upload must average this many kB/s, or it ends with 408 (a slow "
            "client cannot hold a thread)"),
    Setting("FACEINSIGHT_PROXY_HOPS", 0, Number(whole=True, zero=True),
            "proxies in front that set `X-Forwarded-For` and `-Proto` (`make serve` sets 1 for its "
            "nginx): the client's address and scheme are read from them; 0: from the connection"),
    Setting("FACEINSIGHT_VIDEO_MAX_SECONDS", 600.0, QUANTITY, "longest video accepted, in seconds (422)"),
    Setting("FACEINSIGHT_VIDEO_MAX_FRAMES", 1200, COUNT,
            "most frames one video job analyses (duration x sampling rate; 422 above)"),
    Setting("FACEINSIGHT_VIDEO_DEFAULT_FPS", 2.0, QUANTITY, "sampling rate when the request gives none"),
    Setting("FACEINSIGHT_VIDEO_MAX_FPS", 10.0, QUANTITY, "highest sampling rate a request may ask for"),
    Setting("FACEINSIGHT_DECODER_MEMORY_MB", 2048, COUNT,
            "memory (address space, MiB) of the child process that decodes an uploaded video"),
    Setting("FACEINSIGHT_DECODER_PROBE_SECONDS", 20.0, QUANTITY,
            "CPU and wall-clock seconds the upload check may spend decoding a video (422 above)"),
    Setting("FACEINSIGHT_DECODER_READ_SECONDS", 1200.0, QUANTITY,
            "CPU seconds a video job's decoding child may use to read its frames (the job fails above)"),
    Setting("FACEINSIGHT_JOB_WORKERS", 1, COUNT,
            "video jobs run at once per server process (in-process backend)"),
    Setting("FACEINSIGHT_JOB_QUEUE", 8, COUNT,
            "video jobs waiting or running per process (per RQ queue with Redis); 429 above"),
    Setting("FACEINSIGHT_JOB_PER_CLIENT", 3, COUNT,
            "video jobs waiting or running per session, or per client address for requests "
            "without a session cookie (API use); 429 with an estimated `Retry-After` above"),
    Setting("FACEINSIGHT_JOB_TTL_MINUTES", 60.0, QUANTITY,
            "a video job (frames, results) is removed this long after its last activity, "
            "unless the user keeps captures"),
    Setting("FACEINSIGHT_RETENTION_HOURS", 24.0, QUANTITY,
            "kept captures and kept video jobs are swept this long after they were made"),
    Setting("FACEINSIGHT_KEEP_MAX_MB", 100.0, QUANTITY,
            "most MiB one session keeps (captures and kept videos together); past it an upload is "
            "analysed but not kept, and its answer says why (`storage_error`)"),
    Setting("FACEINSIGHT_KEEP_MAX_ITEMS", 100, COUNT,
            "most captures and videos one session keeps (the same way past it)"),
    Setting("FACEINSIGHT_KEEP_MIN_FREE_MB", 1024.0, QUANTITY_OR_OFF,
            "nothing more is kept while the upload folder's disk has less free space than this "
            "(MiB); 0 turns the floor off"),
    Setting("FACEINSIGHT_SWEEP_MINUTES", 10.0, QUANTITY_OR_OFF,
            "how often the age-based sweep runs; 0 turns it off"),
    Setting("FACEINSIGHT_CHECK_MODELS", True, _bool,
            "verify and load the models at start-up: a missing or corrupt model file stops the "
            "server with a message naming it; 0: load on first use (/ready answers 503 until then)"),
    Setting("FACEINSIGHT_SECURE_COOKIES", False, _bool,
            "mark the session cookie Secure (set it to 1 when served over https)"),
    Setting("REDIS_URL", None, _optional,
            "set: video jobs go to an RQ queue on this Redis; unset: in-process thread pool"),
    Setting("FACEINSIGHT_RQ_QUEUE", "faceinsight", str, "the RQ queue name the workers listen on"),
)


# (lower, upper): settings whose values must keep this order once each is in its own range.
AT_MOST: tuple[tuple[str, str], ...] = (
    ("FACEINSIGHT_VIDEO_DEFAULT_FPS", "FACEINSIGHT_VIDEO_MAX_FPS"),  # else the default is refused
)


def _read(setting: Setting, environ: Mapping[str, str], overrides: Mapping[str, Any]) -> Any:
    """One setting's value: the override, else the variable, else the default.

    Overrides are already typed, but numbers among them are range-checked like the variables.

    :raises SettingError: naming the setting, the value given and what is accepted.
    """
    if setting.name in overrides:
        given = overrides[setting.name]
        if not isinstance(setting.parse, Number):
            return given
    else:
        given = environ.get(setting.name)
        if given is None or given == "":
            return setting.default
    try:
        return setting.parse(given)
    except ValueError as error:  # the chained parser error would only repeat the message
        raise SettingError(f"{setting.name} must be {error} (got {given!r})") from None


def _check_order(values: Mapping[str, Any]) -> None:
    """:raises SettingError: a pair in :data:`AT_MOST` is the wrong way round."""
    for lower, upper in AT_MOST:
        if values[lower] > values[upper]:
            raise SettingError(f"{lower} must be at most {upper} "
                               f"(got {lower}={values[lower]:g}, {upper}={values[upper]:g})")


def load_settings(environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Typed settings from the environment, then the caller's overrides, each checked.

    :param environ: the variables to read (default: ``os.environ``).
    :param overrides: values that win over the environment (e.g. ``create_app``'s config).
    :raises SettingError: a value that does not parse or is out of range, named in the message.
    """
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    values = {setting.name: _read(setting, environ, overrides) for setting in SETTINGS}
    _check_order(values)
    for key in ("FACEINSIGHT_INSTANCE_DIR", "FACEINSIGHT_UPLOAD_DIR"):
        values[key] = Path(values[key]).resolve()
    return values


def settings_table() -> str:
    """The settings as a Markdown table (name, default, meaning) for docs/OPERATIONS.md."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = setting.default
        if isinstance(default, Path):
            default = default.relative_to(WRITABLE_ROOT).as_posix() + "/"
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
    rows.append("| `WEB_CONCURRENCY` / `GUNICORN_THREADS` | `2` / `16` | gunicorn workers and threads "
                "(2-core default; threads mostly wait on clients, analyses on their slots) |")
    return "\n".join(rows)
