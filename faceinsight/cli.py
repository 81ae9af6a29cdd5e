"""``predict.py``: age, gender and emotion for image files and folders."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from faceinsight.analyze import analyze_file
from faceinsight.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, ImageDecodeError
from faceinsight.labels import whole_years
from faceinsight.litert import ModelError
from faceinsight.models import get_models

MAX_PIXELS_VARIABLE = "FACEINSIGHT_MAX_PIXELS"  # the server's setting, read here too


def iter_images(paths: list[str]) -> Iterator[Path]:
    """Each given file, and every image file under each given folder (recursively, sorted,
    leaving out hidden files and folders).

    :raises EmptyFolder: after the other paths' images, naming each folder that held none.
    """
    empty = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                            and not _hidden(p.relative_to(path)))
            empty += [] if images else [raw]
            yield from images
        else:
            yield path
    if empty:
        raise EmptyFolder(empty)


class EmptyFolder(Exception):
    """Folders given on the command line that hold no image file."""

    def __init__(self, folders: list[str]):
        super().__init__(", ".join(folders))
        self.folders = folders


def _hidden(relative: Path) -> bool:
    """A dot-file or anything in a dot-folder (macOS ``._photo.jpg`` resource forks, ``.git``)."""
    return any(part.startswith(".") for part in relative.parts)


def valid_text(text: str) -> str:
    """Text that is valid Unicode: a file name that is not UTF-8 keeps its odd bytes as ``\\xff``
    escapes (Python holds them as lone surrogates, which strict JSON readers refuse)."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file name made
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def analyse_path(path: Path, detect: bool, max_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
    """One image's JSON record: ``{"file", "faces", "faces_found", "error"}``: the faces read,
    in reading order, and how many were found; a bad file gets an error."""
    try:
        analysis = analyze_file(path, detect=detect, max_pixels=max_pixels)
        return {"file": valid_text(str(path)), "faces": [face.dump() for face in analysis.faces],
                "faces_found": analysis.faces_found, "error": None}
    except ImageDecodeError as error:
        return {"file": valid_text(str(path)), "faces": [], "faces_found": 0, "error": valid_text(str(error))}


def describe(record: dict) -> list[str]:
    """Short human-readable lines for one image's record: a line per face read, after one
    saying how many were found when some were left out."""
    if record["error"]:
        return [f"{record['file']}: error: {record['error']}"]
    if not record["faces"]:
        return [f"{record['file']}: no face found"]
    lines = []
    found, read = record.get("faces_found", len(record["faces"])), len(record["faces"])
    if found > read:
        lines.append(f"{record['file']}: {found} faces found; the {read} surest were read")
    for number, face in enumerate(record["faces"], 1):
        low, high = face["age_range"]
        lines.append(
            f"{record['file']} face {number} at {tuple(face['box'])}: age {whole_years(face['age'])} "
            f"({low}-{high}, group {face['age_group']}), {face['gender']} "
            f"{face['gender_probability']:.0%}, {face['emotion']} "
            f"{face['emotion_scores'][face['emotion']]:.0%}"
        )
    return lines


def whole_number(smallest: int):
    """An argparse type: a whole number of ``smallest`` or more (argparse's own message else)."""
    def parse(text: str) -> int:
        value = int(text)  # a ValueError: argparse says "invalid ... value"
        if value < smallest:
            raise argparse.ArgumentTypeError(f"must be {smallest} or more (got {value})")
        return value

    parse.__name__ = f"whole number of {smallest} or more"
    return parse


def default_max_pixels() -> int:
    """``$FACEINSIGHT_MAX_PIXELS`` as the server reads it, else the default limit.

    :raises ValueError: naming the variable, when it is not a whole number of 1 or more.
    """
    raw = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        return whole_number(1)(raw)
    except (ValueError, argparse.ArgumentTypeError):
        raise ValueError(f"{MAX_PIXELS_VARIABLE} must be a whole number of 1 or more (got {raw!r})") \
            from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="predict.py", description="Estimate age, gender and emotion for every face in images.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="an image, or a folder to search")
    parser.add_argument("--json", action="store_true", help="one JSON object per image, per line")
    parser.add_argument("--no-detect", action="store_true",
                        help="take each image as one face crop (box = whole image), framed "
                             "as the detector frames a face: brow to chin, ear to ear")
    parser.add_argument("--max-pixels", type=whole_number(1), default=None, metavar="N",
                        help=f"refuse images of more than N pixels, before decoding (default: "
                             f"${MAX_PIXELS_VARIABLE}, else {DEFAULT_MAX_PIXELS:,}; a 180-megapixel "
                             f"PNG takes about 2 GB of memory)")
    parser.add_argument("--models", type=Path, default=None, help="folder with manifest.json")
    parser.add_argument("--verbose", action="store_true",
                        help="also show the model runtime's own messages (LiteRT's INFO lines)")
    return parser.parse_args(argv)


@contextlib.contextmanager
def runtime_info_hidden() -> Iterator[None]:
    """Leave out the lines starting "INFO: " that the model runtime writes while models load
    ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU."): LiteRT writes them straight to
    the process's stderr (file descriptor 2), past Python, and no setting turns them off
    (ai-edge-litert 2.3 reads no TF_CPP_MIN_LOG_LEVEL). Anything else written there meanwhile
    is passed on when the block ends. For a command-line run only: the descriptor is the
    whole process's.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to hide
        saved = None
    if saved is None:
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().splitlines(keepends=True)
            kept = [line for line in lines if not line.startswith(b"INFO: ")]
            if kept:
                os.write(2, b"".join(kept))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; exit status 0 if every image was read, 1 if some were not, 2 on no models,
    a bad $FACEINSIGHT_MAX_PIXELS or an empty path."""
    args = parse_args(argv)
    try:
        if "" in args.paths:  # Path("") is the current folder: an unset "$DIR" would read all of it
            raise ValueError("an empty path was given (an unset variable?)")
        max_pixels = args.max_pixels or default_max_pixels()
    except ValueError as error:  # the command line or the environment: before loading models
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        with contextlib.nullcontext() if args.verbose else runtime_info_hidden():
            get_models(args.models)
    except ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failures = 0
    try:
        for path in iter_images(args.paths):
            record = analyse_path(path, detect=not args.no_detect, max_pixels=max_pixels)
            failures += record["error"] is not None
            print(json.dumps(record) if args.json else "\n".join(describe(record)), flush=True)
    except EmptyFolder as empty:
        for folder in empty.folders:
            print(f"error: no image files found in {valid_text(folder)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (``predict.py ... | head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        print(f"error: could not write the results: {error.strerror or error}", file=sys.stderr)
        return 1
    return 1 if failures else 0
