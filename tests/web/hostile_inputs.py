"""The catalogue of hostile and odd inputs, as raw HTTP bodies, with the answer each must get.

One table serves the Flask test-client tests (every case, on every route it applies to) and
the live-gunicorn smoke test (a sample of it), and docs/operations.md lists it. A body is built
by hand (not by a client library), so names with NUL bytes or path separators reach the server
exactly as a hostile client would send them.
"""

from __future__ import annotations

import base64
import functools
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from face_helpers import jpeg_claiming, png_claiming
from PIL import Image
from webhelpers import astronaut, encode, write_video

BOUNDARY = "faceinsight-hostile-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
HOSTILE_NAMES = {  # as sent -> as kept for display
    "../../evil.{ext}": "evil.{ext}",
    "..\\..\\windows\\evil.{ext}": "evil.{ext}",
    "/etc/passwd.{ext}": "passwd.{ext}",
    "nul\x00byte.{ext}": "nulbyte.{ext}",
    "<img src=x onerror=alert(1)>.{ext}": "<img src=x onerror=alert(1)>.{ext}",
    "..": "",
}

Body = tuple[bytes, str | None]  # the request body and its Content-Type (None: no header)


@dataclass(frozen=True)
class Case:
    """One request and the answer it must get.

    :param label: what is sent (listed in docs/operations.md).
    :param status: the status code the server must answer.
    :param words: text the JSON ``error`` must contain ('' for a success).
    :param build: makes the body (lazily: some cases encode images or videos).
    :param face: a success must find the astronaut's face in it.
    """

    label: str
    status: int
    words: str
    build: Callable[[], Body]
    face: bool = False


def multipart(*parts: tuple[str, str | None, bytes, str | None]) -> Body:
    """A multipart/form-data body from ``(field, filename or None, data, content type or None)``."""
    out = io.BytesIO()
    for field, filename, data, content_type in parts:
        disposition = f'form-data; name="{field}"'
        if filename is not None:  # quoted-string escapes, as werkzeug reads them
            quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
            disposition += f'; filename="{quoted}"'
        out.write(f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode())
        if content_type:
            out.write(f"Content-Type: {content_type}\r\n".encode())
        out.write(b"\r\n" + data + b"\r\n")
    out.write(f"--{BOUNDARY}--\r\n".encode())
    return out.getvalue(), MULTIPART


def file_part(data: bytes, name: str, content_type: str | None = None, field: str = "file") -> Body:
    """A multipart body holding one file."""
    return multipart((field, name, data, content_type))


def send(client, url: str, body: Body):
    """POST a raw body with its Content-Type (or none) through Flask's test client."""
    data, content_type = body
    headers = {"Content-Type": content_type} if content_type else {}
    return client.post(url, data=data, headers=headers)


def json_body(value: object) -> Body:
    return json.dumps(value).encode(), "application/json"


def data_url_body(url: str, **extra: object) -> Body:
    return json_body({"image": url, **extra})


# --- images ------------------------------------------------------------------------------------


@functools.cache
def jpeg() -> bytes:
    return encode(astronaut(), "JPEG", quality=85)


@functools.cache
def png() -> bytes:
    return encode(astronaut(), "PNG")


def pillow_bytes(mode: str, fmt: str, **options: object) -> bytes:
    """The astronaut converted to a Pillow mode and saved in a format."""
    buffer = io.BytesIO()
    Image.fromarray(astronaut()).convert(mode).save(buffer, fmt, **options)
    return buffer.getvalue()


def sixteen_bit_png() -> bytes:
    gray = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    return encode(gray, "PNG")


def animated_gif() -> bytes:
    frames = [Image.fromarray(astronaut()), Image.fromarray(astronaut()[:, ::-1])]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


# --- videos ------------------------------------------------------------------------------------


def small_video(folder: Path, name: str = "clip.avi", frames: int = 6) -> bytes:
    """A short MJPG AVI of the astronaut (96 px), as bytes."""
    return write_video(folder / name, frames=frames, side=96).read_bytes()


def video_without_frames(folder: Path) -> bytes:
    """A valid AVI container holding no frame at all."""
    path = folder / "empty.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64))
    writer.release()
    return path.read_bytes()


HLS_PLAYLIST = b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"


# --- the catalogue -----------------------------------------------------------------------------


MALFORMED_DATA_URLS = (  # (what is wrong, the data URL, status, words in the error)
    ("no comma", "data:image/png;base64", 400, "data URL"),
    ("characters outside base64", "data:image/png;base64,@@@not-base64", 400, "base64"),
    ("bad base64 padding", "data:image/png;base64,QUJDR", 400, "base64"),
    ("not base64-encoded", "data:image/png,rawtext", 400, "base64"),
    ("text/html type", "data:text/html;base64,PGI+", 415, "not an image"),
    ("no media type", "data:;base64,aGVsbG8=", 415, "not an image"),
    ("no data", "data:image/png;base64,", 400, "no data"),
)


def photo_cases() -> list[Case]:
    """Bad and odd requests to the photo routes (``/api/v1/analyze`` and ``/predict``)."""
    bad = [
        Case("empty body, no Content-Type", 400, "no file", lambda: (b"", None)),
        Case("empty multipart form", 400, "no file", lambda: multipart()),
        Case("file in the wrong field ('photo')", 400, "'file'",
             lambda: file_part(jpeg(), "a.jpg", field="photo")),
        Case("empty file", 400, "empty", lambda: file_part(b"", "a.jpg", "image/jpeg")),
        Case("text in the field 'file' (curl -F file=abc)", 400, "holds text, not a file",
             lambda: multipart(("file", None, b"abc", None))),
        Case("text bytes named .jpg", 422, "could not be read",
             lambda: file_part(b"this is not an image" * 20, "photo.jpg", "image/jpeg")),
        Case("random bytes named .png", 422, "could not be read",
             lambda: file_part(np.random.default_rng(1).bytes(4000), "photo.png", "image/png")),
        Case("truncated JPEG (first third)", 422, "the image could not be decoded: the file ends before",
             lambda: file_part(jpeg()[:len(jpeg()) // 3], "cut.jpg")),
        Case("truncated PNG (first 200 bytes)", 422, "the image could not be decoded: the file ends before",
             lambda: file_part(png()[:200], "cut.png")),
        Case("PNG header claiming 100000 x 100000 pixels", 413, "pixels",
             lambda: file_part(png_claiming(100_000, 100_000), "bomb.png")),
        Case("JPEG header claiming 60000 x 60000 pixels", 413, "pixels",
             lambda: file_part(jpeg_claiming(60_000, 60_000), "bomb.jpg")),
        Case("text file (.txt)", 415, "unsupported", lambda: file_part(b"hello", "notes.txt")),
        Case("a video (.mp4) sent to a photo route", 415, "unsupported",
             lambda: file_part(b"\0\0\0\x18ftypisom", "clip.mp4", "video/mp4")),
        Case("no extension, declared text/html", 415, "unsupported",
             lambda: file_part(b"<html>", "page", "text/html")),
        Case("raw bytes, application/octet-stream (not multipart)", 415, "multipart",
             lambda: (jpeg(), "application/octet-stream")),
        Case("text/plain body", 415, "multipart", lambda: (b"hello", "text/plain")),
        Case("JSON array", 400, "JSON body", lambda: (b"[1, 2]", "application/json")),
        Case("malformed JSON", 400, "JSON body", lambda: (b"{not json", "application/json")),
        Case("JSON without 'image'", 400, "'image'", lambda: json_body({"picture": "x"})),
        Case("data URL: a number", 400, "data URL", lambda: json_body({"image": 42})),
        Case("data URL: an http URL", 400, "data URL",
             lambda: data_url_body("http://example.com/a.jpg")),
        Case("data URL: base64 of text", 422, "could not be read",
             lambda: data_url_body("data:image/jpeg;base64," + base64.b64encode(b"hello world!").decode())),
        Case("data URL: truncated JPEG", 422, "the file ends before the image does",
             lambda: data_url_body("data:image/jpeg;base64,"
                                   + base64.b64encode(jpeg()[:len(jpeg()) // 3]).decode())),
        Case("JSON flag 'detect' not a boolean", 400, "detect",
             lambda: data_url_body("data:image/png;base64,aGVsbG8=", detect="maybe")),
        Case("form flag 'store' not a boolean", 400, "store",
             lambda: multipart(("file", "a.jpg", jpeg(), "image/jpeg"), ("store", None, b"perhaps", None))),
        Case("form flag 'detect' sent as a file (curl -F detect=@x)", 400,
             "send 'detect' as a plain form field (true or false), not as a file",
             lambda: multipart(("file", "a.jpg", jpeg(), "image/jpeg"), ("detect", "x", b"false", None))),
        Case("form flag 'detect' sent twice", 400, "send one 'detect'",
             lambda: multipart(("file", "a.jpg", jpeg(), "image/jpeg"), ("detect", None, b"false", None),
                               ("detect", None, b"true", None))),
        Case("a photo's base64 (over 500 kB) as text in 'file' (curl -F file=<photo.b64)", 413,
             "a text field holds more than 500 kB, or there are more than 1,000 fields",
             lambda: multipart(("file", None, b"QUJD" * 150_000, None))),
    ]
    bad += [Case(f"data URL: {label}", status, words, functools.partial(data_url_body, url))
            for label, url, status, words in MALFORMED_DATA_URLS]
    fine = [
        Case("1 x 1 PNG", 200, "",
             lambda: file_part(encode(np.zeros((1, 1, 3), np.uint8), "PNG"), "dot.png")),
        Case("16-bit grayscale PNG", 200, "", lambda: file_part(sixteen_bit_png(), "deep.png"), face=True),
        Case("CMYK JPEG", 200, "", lambda: file_part(pillow_bytes("CMYK", "JPEG"), "cmyk.jpg"), face=True),
        Case("palette PNG", 200, "", lambda: file_part(pillow_bytes("P", "PNG"), "palette.png"), face=True),
        Case("RGBA PNG", 200, "", lambda: file_part(pillow_bytes("RGBA", "PNG"), "alpha.png"), face=True),
        Case("grayscale + alpha PNG", 200, "", lambda: file_part(pillow_bytes("LA", "PNG"), "la.png"),
             face=True),
        Case("animated GIF (first frame analysed)", 200, "", lambda: file_part(animated_gif(), "anim.gif"),
             face=True),
        Case("data URL with line breaks in the base64", 200, "",
             lambda: data_url_body("data:image/jpeg;base64,"
                                   + "\n".join(base64.encodebytes(jpeg()).decode().split())), face=True),
    ]
    names = [Case(f"file name {sent!r}", 200, "", functools.partial(_named_photo, sent), face=True)
             for sent in HOSTILE_NAMES]
    return bad + fine + names


def _named_photo(pattern: str) -> Body:
    return file_part(jpeg(), pattern.format(ext="jpg"), "image/jpeg")


def video_cases(folder: Path) -> list[Case]:
    """Bad requests to ``POST /api/v1/videos`` (its over-long and too-large cases need limits).

    :param folder: where the test videos are written.
    """
    return [
        Case("empty body, no Content-Type", 400, "no file", lambda: (b"", None)),
        Case("empty multipart form", 400, "no file", lambda: multipart()),
        Case("video in the wrong field ('video')", 400, "'file'",
             lambda: file_part(small_video(folder), "clip.avi", field="video")),
        Case("empty file", 400, "empty", lambda: file_part(b"", "clip.mp4", "video/mp4")),
        Case("text file (.txt)", 415, "unsupported", lambda: file_part(b"hello", "clip.txt")),
        Case("an image (.jpg) sent to the video route", 415, "unsupported",
             lambda: file_part(jpeg(), "photo.jpg", "image/jpeg")),
        Case("text bytes named .mp4", 422, "not a video",
             lambda: file_part(b"definitely not a video" * 50, "clip.mp4", "video/mp4")),
        Case("a JPEG named .mp4", 422, "not a video", lambda: file_part(jpeg(), "clip.mp4", "video/mp4")),
        Case("an HLS playlist named .mp4", 422, "not a video",
             lambda: file_part(HLS_PLAYLIST, "clip.mp4", "video/mp4")),
        Case("AVI header only (first 300 bytes)", 422, "video",
             lambda: file_part(small_video(folder)[:300], "cut.avi")),
        Case("AVI with no frames", 422, "no frames",
             lambda: file_part(video_without_frames(folder), "none.avi")),
        *(Case(f"sample_fps = {value!r}", 400, "sample_fps",
               functools.partial(_video_at_rate, folder, value))
          for value in ("fast", "0", "-1", "nan", "inf", "1000")),
    ]


def _video_at_rate(folder: Path, sample_fps: str) -> Body:
    return multipart(("file", "clip.avi", small_video(folder), None),
                     ("sample_fps", None, sample_fps.encode(), None))
