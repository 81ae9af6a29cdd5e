"""Plain helpers the tests import: encoders, the JSON contract check, the astronaut's face.

(A module of its own, not ``conftest.py``, so test files can import it by name.)
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from faceinsight.contract import Face
from faceinsight.images import decode_image
from faceinsight.labels import EMOTIONS, MAX_AGE

REPO = Path(__file__).resolve().parent.parent
# Where the astronaut's face is (x0, y0, x1, y1), measured by eye on the 512 x 512 photo:
# forehead to chin and ear to ear. A detected box must sit on it.
ASTRONAUT_FACE = (165, 55, 285, 175)
FACE_KEYS = list(Face.model_fields)  # the JSON order


def encode(image: np.ndarray | Image.Image, fmt: str = "PNG", **options) -> bytes:
    """Encode an array or Pillow image into file bytes.

    :param image: an RGB/gray uint8 array or a Pillow image.
    :param fmt: a Pillow format name (``PNG``, ``JPEG``, ``BMP``, ``WEBP``, ``GIF``...).
    :param options: passed to :meth:`PIL.Image.Image.save`.
    """
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def encode_heic(image: np.ndarray | Image.Image, exif: Image.Exif | None = None) -> bytes:
    """HEIC bytes, as an iPhone saves its photos (pillow-heif's encoder, a test requirement:
    serving reads them with pi-heif, which cannot write).

    :param image: an RGB uint8 array or a Pillow image.
    :param exif: EXIF to store with it (an orientation is stored as the file's own rotation).
    """
    import pillow_heif

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    options = {"exif": exif.tobytes()} if exif is not None else {}
    pillow_heif.from_pillow(image).save(buffer, quality=90, **options)
    return buffer.getvalue()


def assert_face_contract(face: dict, model: type[Face] = Face) -> None:
    """One face record is a :class:`faceinsight.contract.Face` (strictly: keys in order, types,
    ranges), and what the schema cannot say: a real box, scores summing to 1, the top emotion."""
    model.model_validate(face, strict=True)
    assert list(face) == list(model.model_fields)
    box, (low, high) = face["box"], face["age_range"]
    assert box[2] > 0 and box[3] > 0
    assert face["age"] <= MAX_AGE and low <= high <= MAX_AGE
    scores = face["emotion_scores"]
    assert list(scores) == list(EMOTIONS)
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert face["emotion"] == max(scores, key=scores.get)


def box_on_astronaut_face(box: list[int] | tuple[int, ...]) -> bool:
    """True when a detected box's centre lies on the astronaut's face and its size fits it."""
    x, y, w, h = box
    x0, y0, x1, y1 = ASTRONAUT_FACE
    centre_x, centre_y = x + w / 2, y + h / 2
    return x0 < centre_x < x1 and y0 < centre_y < y1 and 50 <= w <= 160 and 50 <= h <= 160


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR is rewritten to claim ``width`` x ``height`` pixels."""
    data = bytearray(encode(np.zeros((2, 2), np.uint8), "PNG"))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17]))
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is rewritten to claim ``width`` x ``height``."""
    data = bytearray(encode(np.zeros((16, 16, 3), np.uint8), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def astronauts_in_a_photo(astronaut: np.ndarray, size: tuple[int, int], placed: list,
                          background: tuple[int, int, int] = (200, 200, 200),
                          jpeg: bool = True) -> np.ndarray:
    """A photo of ``size`` (height, width), light gray unless told, with the astronaut's photo
    at each ``(x, y, side)`` of ``placed`` (her face is about a quarter of its side), decoded
    from JPEG unless told."""
    photo = np.empty((*size, 3), np.uint8)
    photo[:] = background
    for x, y, side in placed:
        photo[y:y + side, x:x + side] = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA)
    return decode_image(encode(photo, "JPEG", quality=90)) if jpeg else photo


def on_an_astronaut_face(box, placed: list) -> bool:
    """Whether a box lies on the face of one of the astronauts placed by :func:`astronauts_in_a_photo`."""
    return any(box_on_astronaut_face(tuple(round((v - o) * 512 / side) for v, o in
                                           zip(box, (x, y, 0, 0), strict=True))) for x, y, side in placed)
