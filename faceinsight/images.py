"""Image bytes in, an RGB array out: the formats read, the limits that keep a hostile file's
work bounded (pixels, sides, aspect, JPEG scans), EXIF orientation, and the grayscale and
bounded-size copies the detectors search."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import cv2
import numpy as np
from pi_heif import register_heif_opener
from PIL import Image, ImageOps, UnidentifiedImageError

from faceinsight.files import FileTooLargeError, read_regular_file

# What decode_image reads; GIF and TIFF give their first frame, HEIC/HEIF (a phone's photos)
# its primary image.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff",
                              ".heic", ".heif"})


# The only decoders an upload reaches (Pillow would also open ICO, TGA, PPM, PSD, JPEG 2000...,
# whatever the file is named). JPEG's opener also reads a camera's multi-picture JPEG (MPO).
# HEIF comes from pi-heif, libheif's decode-only build: it reads the size from the container
# before decoding, as the others do, and applies the file's rotation itself (its EXIF
# orientation then reads 1, so exif_transpose does not turn it twice).
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "GIF", "TIFF", "HEIF")


register_heif_opener()


DEFAULT_MAX_PIXELS = 40_000_000


MAX_SIDE = 20_000  # the longest side analysed, in pixels (413 above)


MAX_ASPECT = 25.0  # the longer side may be at most this many times the shorter (422 above)


MAX_JPEG_SCANS = 100  # a progressive JPEG has about 10; each scan is a pass over the whole image


JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: markers with no length


DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024  # the CLI's limit on one image file


# Our limit (check_image_shape, from the same header, before anything is decoded) replaces
# Pillow's own: it warned from 89 megapixels and refused from 179 with its own wording, so a
# 200-megapixel phone photo stayed refused whatever max_pixels allowed.
Image.MAX_IMAGE_PIXELS = None


class ImageDecodeError(ValueError):
    """The bytes are not an image this pipeline can read."""


class ImageTooLargeError(ImageDecodeError):
    """The image claims more pixels than the configured limit (decompression bomb)."""


class ImageRefusedError(ImageDecodeError):
    """A readable image whose shape or encoding would make its analysis unbounded work."""


# A marker that ends a scan's entropy-coded data: 0xFF then anything but a stuffed zero, a
# restart marker (0xD0-0xD7) or another 0xFF (a fill byte; the marker is the last 0xFF's).
_SCAN_END = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")


def _skip_entropy_data(data: bytes, pos: int) -> int:
    """The offset of the first marker after a scan's entropy-coded data starting at ``pos``
    (the length of ``data`` where none follows).

    Inside that data 0xFF is always followed by 0x00 (a stuffed byte), a restart marker or a
    fill byte, so the next other marker ends it. One regular-expression search, in C: a
    byte-by-byte walk took a tenth of a millisecond for a 640x480 photo.
    """
    found = _SCAN_END.search(data, pos)
    return len(data) if found is None else found.start()


def count_jpeg_scans(data: bytes, limit: int) -> int:
    """The number of scans (SOS markers) of a JPEG's first image, counting no further than
    ``limit + 1``; walks the marker segments without decoding anything.

    :param data: the file's bytes (must start with the SOI marker).
    :param limit: stop counting once past this many.
    """
    pos, scans = 2, 0
    while pos + 4 <= len(data) and scans <= limit:
        if data[pos] != 0xFF:  # damaged: the decoder will say so
            break
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9:  # EOI: the end of the first image (an MPO's others are not read)
            break
        if marker in JPEG_STANDALONE:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2:
            break
        pos += 2 + length
        if marker == 0xDA:
            scans += 1
            pos = _skip_entropy_data(data, pos)
    return scans


def check_image_shape(width: int, height: int, max_pixels: int, max_side: int = MAX_SIDE,
                      max_aspect: float = MAX_ASPECT) -> None:
    """Refuse, from the header alone, an image whose size or shape makes its analysis unbounded.

    :param width: the width the header claims.
    :param height: the height the header claims.
    :param max_pixels: the most pixels accepted.
    :param max_side: the longest side accepted.
    :param max_aspect: the largest ratio of the longer to the shorter side accepted.
    :raises ImageTooLargeError: too many pixels, or a side too long.
    :raises ImageRefusedError: the sides are further apart than ``max_aspect``.
    """
    if width * height > max_pixels:
        raise ImageTooLargeError(f"the image is {width}x{height} pixels; the limit is {max_pixels:,} pixels")
    if max(width, height) > max_side:
        raise ImageTooLargeError(f"the image is {width}x{height} pixels; the longest side may be "
                                 f"{max_side:,} pixels")
    if max(width, height) > max_aspect * max(1, min(width, height)):
        raise ImageRefusedError(f"the image is {width}x{height} pixels; one side may be at most "
                                f"{max_aspect:g} times the other")


def check_jpeg_scans(data: bytes, max_scans: int = MAX_JPEG_SCANS) -> None:
    """Refuse a JPEG with more scans than ``max_scans`` before any of them is decoded.

    :param data: the file's bytes (anything that is not a JPEG passes).
    :param max_scans: the most scans accepted.
    :raises ImageRefusedError: naming the limit.
    """
    if data[:2] == b"\xff\xd8" and count_jpeg_scans(data, max_scans) > max_scans:
        raise ImageRefusedError(f"the JPEG has more than {max_scans} scans; decoding it would take "
                                f"too long (a progressive JPEG has about 10)")


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode image bytes into an RGB uint8 array, upright as its EXIF orientation says.

    Before any pixel is decoded, the header's size and shape (:func:`check_image_shape`) and a
    JPEG's scan count (:func:`check_jpeg_scans`) are checked, so one image is bounded work.

    :param data: the encoded file (JPEG, PNG, BMP, WebP, HEIC/HEIF; GIF and TIFF give their
        first frame).
    :param max_pixels: refuse images whose header claims more pixels than this, before decoding.
    :raises ImageTooLargeError: the header claims more than ``max_pixels`` pixels, or a side
        longer than :data:`MAX_SIDE`.
    :raises ImageRefusedError: sides more than :data:`MAX_ASPECT` times apart, or a JPEG with
        more than :data:`MAX_JPEG_SCANS` scans.
    :raises ImageDecodeError: the bytes are empty, truncated or not an image.
    """
    if not data:
        raise ImageDecodeError("the file is empty")
    check_jpeg_scans(data)
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            check_image_shape(*image.size, max_pixels)
            fast = _decode_plain_jpeg(data, image)
            if fast is not None:
                return fast
            image.seek(0)  # first frame of an animation
            ImageOps.exif_transpose(image, in_place=True)  # a copy only where it turns
            return _to_rgb_array(image)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError as error:
        raise ImageDecodeError("the file is not an image in a supported format") from error
    except Exception as error:
        # Pillow's decoders meet hostile bytes with many exception types (OSError, ValueError,
        # SyntaxError, EOFError, struct.error, KeyError, ZeroDivisionError...): all of them
        # mean "not a readable image", never a server error.
        raise ImageDecodeError(f"the image could not be decoded: {_decode_failure(error)}") from error


def _decode_failure(error: Exception) -> str:
    """A decoder's failure in plain words: Pillow's truncation message counts the bytes it had
    left, not those missing."""
    text = str(error) or type(error).__name__
    if "truncated" in text:
        return "the file ends before the image does (was it cut short?)"
    return f"its data is damaged ({text})"


EXIF_TURNS_SIDEWAYS = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height


def _decode_plain_jpeg(data: bytes, image: Image.Image) -> np.ndarray | None:
    """A complete RGB JPEG decoded by OpenCV (libjpeg-turbo, about 2.5x faster than Pillow
    here, EXIF orientation applied), or None to let Pillow decode it: other modes (CMYK,
    grayscale), a file that does not end where a JPEG ends, or an unexpected result.

    :param data: the file, already checked (header size, shape and scan count).
    :param image: Pillow's lazily opened view of it (only its header has been read).
    """
    if image.format != "JPEG" or image.mode != "RGB" or not data.rstrip(b"\0").endswith(b"\xff\xd9"):
        return None
    rgb = _imdecode_rgb(data)
    width, height = image.size
    if image.getexif().get(0x0112) in EXIF_TURNS_SIDEWAYS:
        width, height = height, width
    if rgb is None or rgb.shape[:2] != (height, width):
        return None
    return rgb


def _imdecode_rgb(data: bytes) -> np.ndarray | None:
    """OpenCV's decoding in RGB order: since OpenCV 4.10 libjpeg-turbo writes RGB itself (the
    same pixels as BGR and a swap, without the swap's pass over the image)."""
    buffer = np.frombuffer(data, np.uint8)
    if hasattr(cv2, "IMREAD_COLOR_RGB"):
        return cv2.imdecode(buffer, cv2.IMREAD_COLOR_RGB)
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    """Flatten any Pillow mode (16-bit, CMYK, palette, alpha) to 8-bit RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = float(values.max()) or 1.0
        gray = np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Over white, pasted through its own alpha: one RGB image made, where compositing two
        # RGBA images and converting took three more copies (a 40 MP PNG held 1.1 GB at once).
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        image = Image.new("RGB", rgba.size, (255, 255, 255))
        image.paste(rgba, (0, 0), rgba)
        del rgba
    array = np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)
    if array.ndim != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageDecodeError("the image has no pixels")
    return np.ascontiguousarray(array)


def jpeg_preview(image: np.ndarray, max_side: int, quality: int = 85) -> str:
    """A decoded image as a JPEG data URL, shrunk so its longer side is at most ``max_side``.

    :param image: RGB (or grayscale) uint8 array, upright.
    :param max_side: the longest side of the preview, in pixels.
    :param quality: JPEG quality, 0-100.
    """
    small, _ = bounded_copy(image, max_side)
    bgr = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageDecodeError("the preview could not be encoded")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode()


def read_image_file(path: str | Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The bytes of an image file, refusing folders, devices, FIFOs and files over ``max_bytes``.

    :param path: the file.
    :param max_bytes: the largest file read.
    :raises ImageTooLargeError: the file is larger than ``max_bytes``.
    :raises ImageDecodeError: the file is missing, unreadable or not a regular file.
    """
    try:
        return read_regular_file(path, max_bytes)
    except FileTooLargeError as error:
        raise ImageTooLargeError(error.strerror or str(error)) from error
    except OSError as error:
        raise ImageDecodeError(f"cannot read the file: {error.strerror or error}") from error


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file into an RGB uint8 array (see :func:`decode_image`).

    :param path: the image file.
    :param max_pixels: the decompression-bomb limit.
    """
    return decode_image(read_image_file(path), max_pixels)


def to_gray(image: np.ndarray) -> np.ndarray:
    """One grayscale channel of an RGB, H x W x 1 or H x W uint8 array."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def bounded_copy(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image shrunk so its longer side is at most ``max_side``, and the factor to map back.

    :returns: ``(copy, factor)``: a box found on the copy times ``factor`` is in the original.
    """
    longer = max(image.shape[:2])
    if longer <= max_side:
        return image, 1.0
    factor = longer / max_side
    height, width = image.shape[:2]
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    if 2 <= factor <= 4:
        # OpenCV's area averaging is fast only at a factor of exactly 2: a gentle linear step
        # to twice the size, then halving, gives the same pixels in a third of the time.
        image = cv2.resize(image, (2 * size[0], 2 * size[1]), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), factor
