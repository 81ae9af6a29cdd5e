"""``capture.py``: grab frames from a webcam or a video file until a face shows, save it, predict.

Works with the headless OpenCV build: frames are read with ``cv2.VideoCapture`` and nothing is
shown on screen. For the face found (the largest one in the first frame that has a face) it
saves the frame, the face crop and the two enhanced model inputs, then prints the predictions
in ``predict.py``'s formats.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from faceinsight import crops, images
from faceinsight.analyze import locate_faces, read_face
from faceinsight.cli import describe, runtime_info_hidden, whole_number
from faceinsight.litert import ModelError
from faceinsight.models import FaceModels, get_models

DEFAULT_OUT = Path("captures")
DEFAULT_MAX_FRAMES = 300  # about ten seconds of a webcam


class CaptureError(RuntimeError):
    """The camera or video cannot be opened or read."""


@dataclass(frozen=True)
class Capture:
    """The first frame with a face: the RGB frame, where it was in the stream, the face's crops."""

    frame: np.ndarray
    index: int
    crops: crops.FaceCrops


def check_video_source(source: str) -> None:
    """Refuse what is not a video file (or stream URL) before OpenCV guesses at it.

    :raises CaptureError: an empty name, a folder, a missing file, or a photo (OpenCV would
        read it as a one-frame video, turned as stored: without its EXIF orientation).
    """
    if not source:
        raise CaptureError("no video file given (--source is empty)")
    if "://" in source:
        return
    path = Path(source)
    if path.is_dir():
        raise CaptureError(f"{source} is a folder; --source takes a video file")
    if not path.is_file():
        raise CaptureError(f"no such video file: {source}")
    if is_photo(path):
        raise CaptureError(f"{source} is a photo; capture.py reads a camera or a video: "
                           f"predict.py {source} reads photos")


def is_photo(path: Path) -> bool:
    """Whether the file is an image the pipeline reads, by its content (whatever its name)."""
    try:
        with Image.open(path, formats=images.IMAGE_FORMATS):
            return True
    except Exception:  # not an image, or unreadable: OpenCV will say what it makes of it
        return False


def open_source(device: int, source: str | None) -> cv2.VideoCapture:
    """Open a video file (or stream URL) if ``source`` is given, else the camera ``device``.

    :raises CaptureError: the file does not exist, or OpenCV cannot open it or the camera.
    """
    if source is not None:
        check_video_source(source)
        capture = cv2.VideoCapture(source)
        why = f"cannot open the video {source} (is it a video OpenCV can read?)"
    else:
        capture, why = cv2.VideoCapture(device), f"cannot open camera {device} (is it connected and free?)"
    if not capture.isOpened():
        capture.release()
        raise CaptureError(why)
    return capture


def find_face(capture: cv2.VideoCapture, max_frames: int,
              models: FaceModels) -> tuple[Capture | None, int]:
    """Read frames until one has a face, at most ``max_frames`` of them.

    :returns: the capture (None when no frame had a face) and how many frames were read.
    """
    read = 0
    while read < max_frames:
        ok, bgr = capture.read()
        if not ok or bgr is None:
            break
        read += 1
        frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else bgr
        faces = locate_faces(frame, models).crops
        if faces:
            largest = max(faces, key=lambda face: face.box[2] * face.box[3])
            return Capture(frame, read - 1, largest), read
    return None, read


def save_capture(found: Capture, out_dir: Path, stamp: str) -> dict[str, Path]:
    """Write the frame, the face crop and the 128 px / 48 px enhanced crops.

    :param found: the frame and its face.
    :param out_dir: created if needed.
    :param stamp: makes the file names of this capture unique.
    :returns: the written files by role: ``frame``, ``face``, ``face128``, ``face48``.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CaptureError(f"cannot save into {out_dir}: {error.strerror or error}") from error
    face = crops.crop_box(found.frame, found.crops.box)
    files = {"frame": (found.frame, "jpg"), "face": (face, "jpg"),
              "face128": (found.crops.age_gender, "png"), "face48": (found.crops.emotion, "png")}
    written = {}
    for role, (image, extension) in files.items():
        path = out_dir / f"capture-{stamp}-{role}.{extension}"
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
        try:
            written_ok = cv2.imwrite(str(path), bgr)
        except cv2.error:
            written_ok = False
        if not written_ok:
            raise CaptureError(f"cannot write {path}")
        written[role] = path
    return written


def predict_capture(found: Capture, models: FaceModels, frame_path: Path) -> dict:
    """The ``predict.py --json`` record for the captured face."""
    return {"file": str(frame_path), "faces": [read_face(found.crops, models).dump()], "error": None}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="capture.py",
        description="Capture a face from a webcam or a video file, save it and predict.")
    parser.add_argument("--device", type=whole_number(0), default=0, help="camera index (default 0)")
    parser.add_argument("--source", default=None, metavar="PATH",
                        help="read this video file instead of a camera")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to save (captures/)")
    parser.add_argument("--max-frames", type=whole_number(1), default=DEFAULT_MAX_FRAMES,
                        help="give up after this many frames without a face")
    parser.add_argument("--json", action="store_true",
                        help="print the captured face's record in predict.py's JSON format (read "
                             "from the frame as the camera gave it, before it was saved as JPEG)")
    parser.add_argument("--models", type=Path, default=None, help="folder with manifest.json")
    parser.add_argument("--verbose", action="store_true",
                        help="also show the model runtime's INFO lines (hidden by default)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the capture; exit status 0 with a face, 1 without one, 2 when nothing could be read."""
    args = parse_args(argv)
    try:
        with contextlib.nullcontext() if args.verbose else runtime_info_hidden():
            models = get_models(args.models)
        capture = open_source(args.device, args.source)
    except (ModelError, CaptureError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        found, read = find_face(capture, max(1, args.max_frames), models)
    finally:
        capture.release()
    what = args.source or f"camera {args.device}"
    if read == 0:
        print(f"error: could not read a frame from {what}", file=sys.stderr)
        return 2
    if found is None:
        if read < args.max_frames:
            advice = "the stream ended without a face the detector could find"
        elif args.source:
            advice = "raise --max-frames to read more of it, if it is longer"
        else:
            advice = "face the camera, improve the light or raise --max-frames"
        print(f"error: no face found in {read} frame(s) from {what}; {advice}", file=sys.stderr)
        return 1
    try:
        files = save_capture(found, args.out, datetime.now().strftime("%Y%m%d-%H%M%S-%f"))
    except CaptureError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    record = predict_capture(found, models, files["frame"])
    notes = [f"face found in frame {found.index + 1} of {what}"]
    notes += [f"saved {role}: {path}" for role, path in files.items()]
    if args.json:
        print("\n".join(notes), file=sys.stderr)
        print(json.dumps(record), flush=True)
    else:
        print("\n".join(notes + describe(record)), flush=True)
    return 0
