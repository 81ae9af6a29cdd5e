"""The one face pipeline shared by training, the CLI and the server.

decode -> detect (:mod:`faceinsight.detectors`) -> crop by the model's geometry -> grayscale,
resize -> equalise.

Training cuts its crops with :func:`crop_face`, the function serving uses, and each model ships
its crop geometry per detector, so a model sees at serving time the framing it learnt.
"""

from __future__ import annotations

import io
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pi_heif import register_heif_opener
from PIL import Image, ImageOps, UnidentifiedImageError

from faceinsight.detectors import MIN_FACE_SIDE, Box, Detection, Detector, bounded_copy, to_gray
from faceinsight.files import FileTooLargeError, read_regular_file

AGE_GENDER_SIZE = 128
EMOTION_SIZE = 48
# Faces read in one photo or video frame; when more are found, those the detector is surest of.
# It bounds the work (the models take about 1.5 ms a face) and stays above real crowds.
MAX_FACES = 100
ROW_SHARE = 0.5  # faces whose vertical centres lie within this share of a face height share a row
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
__all__ = ["Box", "to_gray"]  # re-exported: callers read boxes and grayscale from here


class ImageDecodeError(ValueError):
    """The bytes are not an image this pipeline can read."""


class ImageTooLargeError(ImageDecodeError):
    """The image claims more pixels than the configured limit (decompression bomb)."""


class ImageRefusedError(ImageDecodeError):
    """A readable image whose shape or encoding would make its analysis unbounded work."""


@dataclass(frozen=True)
class FaceCrops:
    """The two model inputs for one face, both uint8 grayscale and equalised."""

    box: Box
    age_gender: np.ndarray  # AGE_GENDER_SIZE x AGE_GENDER_SIZE
    emotion: np.ndarray  # EMOTION_SIZE x EMOTION_SIZE


@dataclass(frozen=True)
class FoundFaces:
    """The faces read in one image, in reading order, and how many the detector found (more
    than were read when the cap, :data:`MAX_FACES`, left some out)."""

    crops: list[FaceCrops]
    found: int


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


def jpeg_preview(image: np.ndarray, max_side: int, quality: int = 85) -> bytes:
    """A decoded image as JPEG bytes, shrunk so its longer side is at most ``max_side``.

    :param image: RGB (or grayscale) uint8 array, upright.
    :param max_side: the longest side of the preview, in pixels.
    :param quality: JPEG quality, 0-100.
    """
    small, _ = bounded_copy(image, max_side)
    bgr = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageDecodeError("the preview could not be encoded")
    return encoded.tobytes()


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


@dataclass(frozen=True)
class CropGeometry:
    """Where a model's square crop lies relative to a detector's box.

    Calibrated per model and detector (``faceinsight.calibrate``) and shipped in the models'
    manifest, so training and serving frame a face the same way.

    :param scale: crop side / box side (the box's larger side).
    :param dx: crop centre minus box centre, in box sides, to the right.
    :param dy: crop centre minus box centre, in box sides, downwards.
    """

    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def square(self, box: tuple[float, float, float, float]) -> tuple[float, float, float]:
        """The crop's centre x, centre y and side for a detector box ``(x, y, w, h)``."""
        x, y, w, h = box
        side = max(w, h)
        return x + w / 2 + self.dx * side, y + h / 2 + self.dy * side, self.scale * side


WHOLE_BOX = CropGeometry()  # the crop is the box itself: dataset chips and --no-detect


def crop_face(gray: np.ndarray, box: tuple[float, float, float, float], geometry: CropGeometry,
              size: int, angle: float = 0.0) -> np.ndarray:
    """The one crop function of training and serving: a model input for one face.

    :param gray: the whole grayscale image.
    :param box: the face's detector box ``(x, y, w, h)`` (floats allowed; may leave the image).
    :param geometry: where the model's crop lies relative to the box.
    :param size: the model's input side in pixels.
    :param angle: rotation in degrees, counter-clockwise (training's jitter; 0 when serving).
    :returns: ``size`` x ``size`` uint8, histogram-equalised; the border is replicated where
        the crop leaves the image.
    """
    cx, cy, side = geometry.square(box)
    side = max(side, 1.0)
    if not angle:
        whole = max(1, round(side))
        left, top = round(cx - whole / 2), round(cy - whole / 2)
        return prepare_crop(crop_box(gray, (left, top, whole, whole)), size)
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    matrix[:, 2] += (size / 2 - cx, size / 2 - cy)
    turned = cv2.warpAffine(gray, matrix, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    return cv2.equalizeHist(turned)


def crop_box(gray: np.ndarray, box: Box) -> np.ndarray:
    """Cut a box out of an image, replicating the border where the box leaves it.

    :param gray: H x W image.
    :param box: ``(x, y, w, h)``; may extend past the image edges.
    """
    x, y, w, h = box
    height, width = gray.shape[:2]
    pad = max(0, -x, -y, x + w - width, y + h - height)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x, y = x + pad, y + pad
    return gray[y:y + h, x:x + w]


def prepare_crop(face: np.ndarray, size: int) -> np.ndarray:
    """Resize a grayscale face crop to ``size`` x ``size`` and equalise its histogram.

    :param face: H x W uint8 grayscale crop (any size).
    :param size: output side in pixels.
    """
    interpolation = cv2.INTER_AREA if min(face.shape[:2]) > size else cv2.INTER_LINEAR
    resized = cv2.resize(face, (size, size), interpolation=interpolation)
    return cv2.equalizeHist(resized)


@dataclass(frozen=True)
class Framing:
    """How each model frames a face found by one detector (from the models' manifest)."""

    age_gender: CropGeometry = WHOLE_BOX
    emotion: CropGeometry = WHOLE_BOX


def clip_box(box: Box, width: int, height: int) -> Box:
    """The part of ``box`` inside a ``width`` x ``height`` image (a face cut by the photo's
    edge has a detector box reaching past it; clients crop and draw with what we report).
    A box wholly outside keeps a side of one pixel at the nearest edge."""
    x, y, w, h = box
    x0, y0 = min(max(0, x), width - 1), min(max(0, y), height - 1)
    x1, y1 = max(min(width, x + w), x0 + 1), max(min(height, y + h), y0 + 1)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def crops_for_box(gray: np.ndarray, box: Box, framing: Framing) -> FaceCrops:
    """Both model inputs for one detected face.

    :param gray: the whole grayscale image.
    :param box: the face as found by the detector; the models' crops are cut from it (beyond
        the photo's edge too, as they learnt), the reported box is its part inside the photo.
    :param framing: each model's crop geometry for that detector.
    """
    return FaceCrops(
        box=clip_box(box, gray.shape[1], gray.shape[0]),
        age_gender=crop_face(gray, box, framing.age_gender, AGE_GENDER_SIZE),
        emotion=crop_face(gray, box, framing.emotion, EMOTION_SIZE),
    )


def crops_for_whole_image(gray: np.ndarray) -> FaceCrops:
    """Both model inputs when the caller says the image already is one face crop.

    :param gray: the face crop, grayscale.
    """
    height, width = gray.shape[:2]
    return FaceCrops(
        box=(0, 0, int(width), int(height)),
        age_gender=prepare_crop(gray, AGE_GENDER_SIZE),
        emotion=prepare_crop(gray, EMOTION_SIZE),
    )


MIN_FACE_CROP = MIN_FACE_SIDE  # pixels a side: no detector reports a smaller face


def check_face_crop_size(gray: np.ndarray) -> None:
    """Refuse an image given as one face crop that is too small to hold a face, rather than
    answer for it with made-up confidence.

    :raises ImageRefusedError: a side is under :data:`MIN_FACE_CROP` pixels.
    """
    height, width = gray.shape[:2]
    if min(height, width) < MIN_FACE_CROP:
        raise ImageRefusedError(f"the image is {width}x{height} pixels; a face crop must be at "
                                f"least {MIN_FACE_CROP} pixels on each side")


def reading_order(boxes: Sequence[Box]) -> list[int]:
    """The order faces are numbered in, as indices into ``boxes``: rows from top to bottom,
    each row left to right, as text is read.

    A face joins the row above when its vertical centre lies within :data:`ROW_SHARE` of a face
    height (the two faces' mean: the row's and its own) of the row's mean centre; a row's faces
    then go by their horizontal centres.

    :param boxes: ``(x, y, w, h)`` boxes.
    """
    by_centre = sorted(range(len(boxes)), key=lambda i: boxes[i][1] + boxes[i][3] / 2)
    rows: list[list[int]] = []
    for index in by_centre:
        _, y, _, height = boxes[index]
        if rows:
            row = rows[-1]
            row_centre = statistics.fmean(boxes[i][1] + boxes[i][3] / 2 for i in row)
            row_height = statistics.fmean(boxes[i][3] for i in row)
            if abs(y + height / 2 - row_centre) <= ROW_SHARE * (height + row_height) / 2:
                row.append(index)
                continue
        rows.append([index])
    return [i for row in rows for i in sorted(row, key=lambda i: boxes[i][0] + boxes[i][2] / 2)]


def choose_faces(detections: Sequence[Detection], max_faces: int = MAX_FACES) -> list[Box]:
    """The boxes read: the ``max_faces`` detections the detector is surest of, in reading
    order (:func:`reading_order`). Not the largest: a box's size says more than the face's
    size (equal faces pasted at 250 px got boxes of 207-264 px, the smallest on dark skin).

    :param detections: the detector's faces with their scores.
    :param max_faces: read at most this many.
    """
    surest = sorted(detections, key=lambda found: found.score, reverse=True)[:max(0, max_faces)]
    boxes = [found.box for found in surest]
    return [boxes[i] for i in reading_order(boxes)]


def find_faces(image: np.ndarray, detector: Detector | None, framing: Framing,
               max_faces: int = MAX_FACES) -> FoundFaces:
    """Locate faces in an image and make their model inputs.

    :param image: RGB or grayscale uint8 array.
    :param detector: the face detector; None when the image already is a single face crop
        (box = whole image).
    :param framing: each model's crop geometry for that detector.
    :param max_faces: read at most this many faces, the surest (:func:`choose_faces`).
    """
    gray = to_gray(image)
    if detector is None:
        check_face_crop_size(gray)
        return FoundFaces([crops_for_whole_image(gray)], found=1)
    detections = detector.detect_scored(image)
    crops = [crops_for_box(gray, box, framing) for box in choose_faces(detections, max_faces)]
    return FoundFaces(crops, found=len(detections))
