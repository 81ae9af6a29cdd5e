"""Hostile media built byte by byte: an uncompressed bottom-up AVI (which crashes OpenCV's FFmpeg
reader), a progressive JPEG with thousands of empty scans, and images of extreme shape.

Nothing is read from disk: each file is made from the astronaut photo or plain arrays.
"""

from __future__ import annotations

import struct

import numpy as np

from tests.web.webhelpers import astronaut, encode


def _chunk(tag: bytes, data: bytes) -> bytes:
    """A RIFF chunk (padded to an even length)."""
    return tag + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _list(kind: bytes, data: bytes) -> bytes:
    return _chunk(b"LIST", kind + data)


def bottom_up_avi(frames: int = 10, side: int = 96, fps: int = 10, handler: bytes = b"DIB ") -> bytes:
    """An uncompressed 24-bit AVI whose rows are stored bottom-up (a positive ``biHeight``: the
    usual DIB layout), with an ``idx1`` index, as old capture tools write them.

    :param frames: how many frames.
    :param side: frame width and height in pixels.
    :param fps: frames per second.
    :param handler: the stream's codec tag.
    """
    stride = (side * 3 + 3) & ~3
    size = stride * side
    avih = struct.pack("<10I16x", 1_000_000 // fps, size * fps, 0, 0x10, frames, 0, 1, size, side, side)
    strh = struct.pack("<4s4sIHHIIIIIIIIhhhh", b"vids", handler, 0, 0, 0, 0, 1, fps, 0, frames, size,
                       0xFFFFFFFF, 0, 0, 0, side, side)
    strf = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 24, 0, size, 0, 0, 0, 0)
    header = _list(b"hdrl", _chunk(b"avih", avih)
                   + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)))
    base = np.ascontiguousarray(astronaut()[::512 // side, ::512 // side][:side, :side, ::-1])
    movi, index, offset = b"", b"", 4
    for number in range(frames):
        rows = np.roll(base, number, axis=1)[::-1]  # bottom-up, BGR
        data = b"".join(row.tobytes().ljust(stride, b"\0") for row in rows)
        index += struct.pack("<4sIII", b"00db", 0x10, offset, len(data))
        chunk = _chunk(b"00db", data)
        offset += len(chunk)
        movi += chunk
    body = b"AVI " + header + _list(b"movi", movi) + _chunk(b"idx1", index)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def jpeg_with_empty_scans(scans: int, side: int = 64) -> bytes:
    """A progressive JPEG followed by ``scans`` extra scans that add nothing (a scan-count bomb).

    Each extra scan is an SOS segment for the first component's DC refinement with no entropy
    data, which decoders accept and process one by one.

    :param scans: how many empty scans to add before the end marker.
    :param side: the image's width and height.
    """
    image = np.full((side, side, 3), 128, np.uint8)
    data = encode(image, "JPEG", progressive=True, quality=80)
    assert data.endswith(b"\xff\xd9")
    # SOS: 1 component (id 1, tables 0/0), Ss=0, Se=0, Ah=1, Al=0: a DC refinement scan.
    empty_scan = b"\xff\xda" + struct.pack(">H", 8) + bytes([1, 1, 0x00, 0, 0, 0x10])
    return data[:-2] + empty_scan * scans + b"\xff\xd9"


def thin_png(width: int, height: int) -> bytes:
    """A grey PNG of an extreme shape (e.g. 200,000 x 200: small file, few pixels, huge side)."""
    return encode(np.full((height, width), 200, np.uint8), "PNG")
