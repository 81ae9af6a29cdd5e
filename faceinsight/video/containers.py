"""Which files are videos the app accepts, told by their first bytes: an MP4/MOV/M4V, a
Matroska/WebM or an AVI container. Anything else (a still image, a playlist, a text file with a
video's name) never reaches FFmpeg's many other demuxers."""

from __future__ import annotations

QUICKTIME_ATOMS = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"})
EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # Matroska and WebM


def container_extension(head: bytes) -> str | None:
    """The usual extension of the container a file's first bytes open (``.mp4`` for any
    QuickTime-family file, ``.mkv`` for Matroska and WebM, ``.avi``), or None.

    :param head: at least the first 12 bytes of the file.
    """
    if head[4:8] in QUICKTIME_ATOMS:
        return ".mp4"
    if head.startswith(EBML_MAGIC):
        return ".mkv"
    return ".avi" if head[:4] == b"RIFF" and head[8:12] == b"AVI " else None
