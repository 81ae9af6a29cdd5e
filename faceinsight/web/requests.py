"""Reading a request safely: its file part, form fields, yes/no flags, JSON body and data URLs,
the type checks of photos and videos, and the spooling of a video part as it arrives.

User file names never touch the file system: stored files get random ids, and names are only
kept (cleaned) for display, where the page inserts them as text.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import IO

from flask import Request, request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from faceinsight.images import IMAGE_EXTENSIONS
from faceinsight.video.containers import container_extension
from faceinsight.web.errors import ApiError
from faceinsight.web.settings import FALSE_WORDS, TRUE_WORDS, mib

log = logging.getLogger(__name__)
PHOTO_EXTENSIONS = IMAGE_EXTENSIONS  # the CLI reads the same files from a folder
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".webm", ".avi", ".mov", ".mkv"})
VIDEO_TYPES = {"video/mp4": ".mp4", "video/webm": ".webm", "video/x-msvideo": ".avi",
               "video/avi": ".avi", "video/quicktime": ".mov", "video/x-matroska": ".mkv"}
NEUTRAL_TYPES = frozenset({"", "application/octet-stream"})
DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)"
                      r"(?P<b64>;base64)?,(?P<data>.*)$", re.DOTALL | re.IGNORECASE)  # RFC 2397: any case


def clean_name(name: str | None, limit: int = 100) -> str:
    """A file name safe to store in metadata and show: no folders, control characters or NULs.

    :param name: the client's file name (untrusted).
    :param limit: keep at most this many characters; a longer name loses characters before its
        extension, which says what the file is.
    """
    if not name:
        return ""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".")
    if len(name) <= limit:
        return name
    ext = extension(name)
    ext = ext if len(ext) < limit // 2 else ""
    return name[:limit - len(ext)] + ext


def extension(name: str) -> str:
    """The lower-case extension of a (cleaned) file name, with its dot, or ''."""
    return Path(name).suffix.lower() if "." in name else ""


def check_photo_type(name: str, mimetype: str) -> None:
    """Refuse uploads that say they are not images (415); undeclared types are tried.

    :param name: the cleaned file name.
    :param mimetype: the part's declared content type.
    :raises ApiError: 415 for a known non-image extension or content type.
    """
    ext = extension(name)
    if ext in PHOTO_EXTENSIONS:
        return
    if not ext and (mimetype.startswith("image/") or mimetype in NEUTRAL_TYPES):
        return
    shown = ext or mimetype
    raise ApiError(415, f"unsupported file type {shown!r}: send a JPEG, PNG, HEIC, BMP, WebP, GIF or "
                        "TIFF image")


SPOOL = ".incoming"  # in the upload folder: video parts as they arrive (see spool_file)


def spool_file(upload_dir: Path) -> IO[bytes] | None:
    """A private temporary file in the upload folder for a video part as it arrives, so that
    the video is written once, on the disk its job reads it from (Werkzeug would spool it to
    TMPDIR, and the job folder would get a second copy); it is deleted when closed. None when
    the folder cannot take it (the caller spools to TMPDIR as before).

    :param upload_dir: the upload folder.
    """
    folder = Path(upload_dir) / SPOOL
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return tempfile.NamedTemporaryFile(dir=folder, prefix="video-", suffix=".part")
    except OSError as error:
        log.warning("spooling a video part to TMPDIR: the upload folder cannot take it (%s)", error)
        return None


def spooled_path(stream: object, upload_dir: Path) -> Path | None:
    """The file a part was spooled to by :func:`spool_file`, or None for any other stream."""
    name = getattr(stream, "name", None)
    if not isinstance(name, str):
        return None
    path = Path(name)
    return path if path.parent == Path(upload_dir) / SPOOL else None


def sweep_spool(upload_dir: Path, max_age_s: float, now: float | None = None) -> int:
    """Remove spooled parts left by a process that ended mid-upload (untouched for
    ``max_age_s``: a part still arriving is written to all the time); how many.

    :param upload_dir: the upload folder.
    :param max_age_s: the age past which a part is abandoned.
    :param now: the current time (tests).
    """
    now = time.time() if now is None else now
    folder, removed = Path(upload_dir) / SPOOL, 0
    for path in folder.glob("video-*.part") if folder.is_dir() else []:
        try:
            if now - path.stat().st_mtime > max_age_s:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def first_bytes(part: FileStorage, count: int = 16) -> bytes:
    """An uploaded part's first bytes, its stream left where it was (b"" if it cannot seek)."""
    try:
        start = part.stream.tell()
        head = part.stream.read(count)
        part.stream.seek(start)
    except (OSError, ValueError, AttributeError):
        return b""
    return head


def video_extension(name: str, mimetype: str, head: bytes = b"") -> str:
    """The extension a video upload is stored with, from its name or declared type, or (a file
    sent with neither, as ``curl -F file=@clip;filename=x`` does) from its first bytes.

    :param name: the cleaned file name.
    :param mimetype: the part's declared content type.
    :param head: the file's first bytes (at least 12), if at hand.
    :raises ApiError: 415 when none of them says it is a supported video container.
    """
    ext = extension(name)
    if ext in VIDEO_EXTENSIONS:
        return ext
    if not ext and mimetype in VIDEO_TYPES:
        return VIDEO_TYPES[mimetype]
    if not ext and mimetype in NEUTRAL_TYPES and (sniffed := container_extension(head)):
        return sniffed
    shown = ext or mimetype or "unknown"
    raise ApiError(415, f"unsupported video type {shown!r}: send an mp4, webm, avi, mov or mkv file")


def read_json_body(expected: str) -> object:
    """The current request's JSON body, parsed.

    A body sent without a length (chunked) is cut at the size limit by the server's stream:
    one that fills it is refused as too large, never parsed in part.

    :param expected: what the body must be, for the 400 message (e.g. "the JSON body must be
        an object with an 'image' data URL").
    :raises RequestEntityTooLarge: 413, the body reaches the size limit however it was sent.
    :raises ApiError: 400 for malformed JSON, or JSON nested too deeply to parse.
    """
    data = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(data) >= limit:
        raise RequestEntityTooLarge()
    try:
        return json.loads(data)
    except RecursionError as error:
        raise ApiError(400, f"{expected}: the JSON is nested too deeply") from error
    except ValueError as error:
        raise ApiError(400, f"{expected}: the body is not valid JSON") from error


def uploaded_file(request: Request, field: str = "file", example: str = "photo.jpg") -> FileStorage:
    """The multipart file part a route expects, with clear errors when it is not there.

    :param request: the current request.
    :param field: the expected form field name.
    :param example: a file name for the curl example in the error for a text field.
    :raises ApiError: 415 for a body that is not multipart, 400 for a missing or wrong field or
        for more than one file in it.
    """
    if not request.mimetype and not request.content_length:
        raise ApiError(400, f"no file uploaded: send it in a multipart field named {field!r}")
    if not request.mimetype.startswith("multipart/form-data"):
        raise ApiError(415, f"send multipart/form-data with the file in a field named {field!r}")
    part = request.files.get(field)
    if part is None:
        others = sorted(request.files.keys())
        if field in request.form:
            raise ApiError(400, f"the field {field!r} holds text, not a file: send the file's "
                                f"contents as a file part (with curl: -F {field}=@{example})")
        if others:
            raise ApiError(400, f"the file must be in a field named {field!r}, not {others[0]!r}")
        raise ApiError(400, f"no file uploaded: send it in a multipart field named {field!r}")
    if len(request.files.getlist(field)) > 1:  # answering for one would silently drop the rest
        raise ApiError(400, f"send one file per request (the field {field!r} came more than once)")
    return part


def read_part(part: FileStorage, limit: int) -> bytes:
    """Read an uploaded part, refusing it past ``limit`` bytes or when empty.

    :param part: the multipart file.
    :param limit: the largest size accepted, in bytes.
    :raises ApiError: 413 over the limit, 400 for an empty file.
    """
    data = part.stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"the file is too large; the limit is {mib(limit)}")
    if not data:
        raise ApiError(400, "the uploaded file is empty")
    return data


def decode_data_url(text: object, limit: int) -> bytes:
    """The bytes of a base64 ``data:image/...`` URL.

    :param text: the JSON ``image`` value (untrusted: any JSON type).
    :param limit: the largest decoded size accepted, in bytes.
    :raises ApiError: 400 malformed, 415 not an image type, 413 too large.
    """
    if not isinstance(text, str) or not text:
        raise ApiError(400, "'image' must be a data URL string: data:image/jpeg;base64,...")
    match = DATA_URL.match(text.strip())
    if not match:
        raise ApiError(400, "'image' is not a data URL; expected data:image/<type>;base64,<data>")
    media_type = (match.group("type") or "").lower()
    if not media_type.startswith("image/"):
        raise ApiError(415, f"the data URL's type {media_type or 'text/plain'!r} is not an image type")
    if not match.group("b64"):
        raise ApiError(400, "the data URL must be base64-encoded (data:image/...;base64,...)")
    payload = re.sub(r"\s+", "", match.group("data"))
    if len(payload) > (limit + 2) // 3 * 4 + 4:
        raise ApiError(413, f"the image is too large; the limit is {mib(limit)}")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ApiError(400, f"the data URL's base64 is malformed: {error}") from error
    if not data:
        raise ApiError(400, "the data URL holds no data")
    return data


def form_field(request: Request, name: str, value: str) -> str | None:
    """A plain multipart field sent once beside the file (None when absent); never sent in the
    URL, as a file, or twice, each of which would else be ignored or half-read.

    :param request: the request.
    :param name: the field's name.
    :param value: what it holds, for the error message ("a number").
    :raises ApiError: 400 naming what is wrong.
    """
    if name in request.args:
        raise ApiError(400, f"send {name!r} as a form field beside the file, not in the URL")
    if name in request.files:  # curl -F name=@file: not the value it looks like
        raise ApiError(400, f"send {name!r} as a plain form field ({value}), not as a file")
    if len(request.form.getlist(name)) > 1:
        raise ApiError(400, f"send one {name!r}")
    return request.form.get(name)


def read_flag(value: object, name: str, default: bool) -> bool:
    """A boolean form or JSON field ('true'/'false', '1'/'0', or a JSON boolean).

    :param value: the raw field (None when absent).
    :param name: the field's name, for the error message.
    :param default: the value when the field is absent.
    :raises ApiError: 400 for anything else.
    """
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ApiError(400, f"{name!r} must be true or false")
