"""The one face pipeline shared by training, the CLI and the server.

decode -> grayscale -> detect (Haar cascade) -> crop with margin -> resize -> equalise.

Training calls :func:`prepare_crop` on the very same crops the server makes, so the
models see at serving time what they saw in training.
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from faceinsight.files import FileTooLargeError, read_regular_file

AGE_GENDER_SIZE = 128
EMOTION_SIZE = 48
# Fraction of the detected box added on each side before cropping. The age model sees a
# little hair and chin; the emotion crop stays tight, like the FER2013 faces it learnt from.
AGE_GENDER_MARGIN = 0.2
EMOTION_MARGIN = 0.05
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024  # the CLI's limit on one image file
MIN_FACE_FRACTION = 0.08  # smallest face searched for, as a fraction of the shorter side
MIN_FACE_PIXELS = 24

Box = tuple[int, int, int, int]  # x, y, width, height


class ImageDecodeError(ValueError):
    """The bytes are not an image this pipeline can read."""


class ImageTooLargeError(ImageDecodeError):
    """The image claims more pixels than the configured limit (decompression bomb)."""


@dataclass(frozen=True)
class FaceCrops:
    """The two model inputs for one face, both uint8 grayscale and equalised."""

    box: Box
    age_gender: np.ndarray  # AGE_GENDER_SIZE x AGE_GENDER_SIZE
    emotion: np.ndarray  # EMOTION_SIZE x EMOTION_SIZE


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode image bytes into an RGB uint8 array, upright as its EXIF orientation says.

    :param data: the encoded file (JPEG, PNG, BMP, WebP; GIF and TIFF give their first frame).
    :param max_pixels: refuse images whose header claims more pixels than this, before decoding.
    :raises ImageTooLargeError: the header claims more than ``max_pixels`` pixels.
    :raises ImageDecodeError: the bytes are empty, truncated or not an image.
    """
    if not data:
        raise ImageDecodeError("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageTooLargeError(
                        f"the image is {width}x{height} pixels; the limit is {max_pixels:,} pixels"
                    )
                image.seek(0)  # first frame of an animation
                upright = ImageOps.exif_transpose(image)
                return _to_rgb_array(upright)
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooLargeError(f"the image is too large: {error}") from error
    except UnidentifiedImageError as error:
        raise ImageDecodeError("the file is not an image in a supported format") from error
    except Exception as error:
        # Pillow's decoders meet hostile bytes with many exception types (OSError, ValueError,
        # SyntaxError, EOFError, struct.error, KeyError, ZeroDivisionError...): all of them
        # mean "not a readable image", never a server error.
        raise ImageDecodeError(f"the image could not be decoded: {error or type(error).__name__}") \
            from error


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    """Flatten any Pillow mode (16-bit, CMYK, palette, alpha) to 8-bit RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = float(values.max()) or 1.0
        gray = np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    if array.ndim != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageDecodeError("the image has no pixels")
    return np.ascontiguousarray(array)


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
    """Convert an RGB (or already gray) uint8 array to one grayscale channel.

    :param image: H x W x 3 RGB, H x W x 1 or H x W array.
    """
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


_local = threading.local()


def _cascade() -> cv2.CascadeClassifier:
    """One Haar cascade per thread: OpenCV's detector is not documented as thread-safe."""
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise RuntimeError(f"OpenCV could not load its Haar cascade from {path}")
        _local.cascade = cascade
    return cascade


def detect_faces(gray: np.ndarray, min_neighbors: int = 5) -> list[Box]:
    """Find every frontal face in a grayscale image with OpenCV's Haar cascade.

    :param gray: H x W uint8 grayscale image.
    :param min_neighbors: the cascade's confidence threshold; higher finds fewer, surer faces.
    :returns: boxes ``(x, y, w, h)``, largest first.
    """
    height, width = gray.shape[:2]
    shorter = min(height, width)
    if shorter < MIN_FACE_PIXELS:
        return []
    min_side = max(MIN_FACE_PIXELS, int(shorter * MIN_FACE_FRACTION))
    found = _cascade().detectMultiScale(
        cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=min_neighbors,
        minSize=(min_side, min_side),
    )
    boxes = [tuple(int(v) for v in box) for box in found]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)  # type: ignore[return-value]


def expand_box(box: Box, margin: float) -> Box:
    """Grow a box by ``margin`` of its width/height on each side (may leave the image).

    :param box: ``(x, y, w, h)``.
    :param margin: fraction added on every side, e.g. 0.2.
    """
    x, y, w, h = box
    dx, dy = round(w * margin), round(h * margin)
    return x - dx, y - dy, w + 2 * dx, h + 2 * dy


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


def crops_for_box(gray: np.ndarray, box: Box) -> FaceCrops:
    """Both model inputs for one detected face.

    :param gray: the whole grayscale image.
    :param box: the face as found by :func:`detect_faces`.
    """
    age_crop = crop_box(gray, expand_box(box, AGE_GENDER_MARGIN))
    emotion_crop = crop_box(gray, expand_box(box, EMOTION_MARGIN))
    return FaceCrops(
        box=box,
        age_gender=prepare_crop(age_crop, AGE_GENDER_SIZE),
        emotion=prepare_crop(emotion_crop, EMOTION_SIZE),
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


def find_faces(image: np.ndarray, detect: bool = True, max_faces: int = 20) -> list[FaceCrops]:
    """Locate faces in an image and make their model inputs.

    :param image: RGB or grayscale uint8 array.
    :param detect: False when the image already is a single face crop (box = whole image).
    :param max_faces: keep at most this many faces, largest first.
    """
    gray = to_gray(image)
    if not detect:
        return [crops_for_whole_image(gray)]
    return [crops_for_box(gray, box) for box in detect_faces(gray)[:max_faces]]
