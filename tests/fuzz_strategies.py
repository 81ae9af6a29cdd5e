"""Hypothesis strategies for fuzzing: arbitrary bytes, and valid files damaged in many ways.

Shared by the decoder fuzz (tests/test_fuzz.py) and the HTTP fuzz (tests/web/test_web_fuzz.py).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import cv2
from face_helpers import encode, encode_heic
from hypothesis import strategies as st
from PIL import Image

HEADER_BYTES = 64  # where formats keep their dimensions, chunk sizes and markers
# Small edits come up more often than destructive ones, so many damaged files still decode
# and go on through detection and the models.
EDITS = ("set", "set", "set", "flip", "flip", "flip", "header", "insert", "delete", "repeat", "cut")


@st.composite
def damaged(draw: st.DrawFn, seeds: Sequence[bytes], max_edits: int = 4) -> bytes:
    """One of ``seeds`` with a few edits: bytes set, bits flipped, runs inserted, deleted or
    repeated, the header overwritten, or the tail cut off.

    :param seeds: valid files to start from.
    :param max_edits: the most edits applied to one file.
    """
    data = bytearray(draw(st.sampled_from(list(seeds))))
    for _ in range(draw(st.integers(1, max_edits))):
        kind = draw(st.sampled_from(EDITS))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if not data:
            break
        if kind == "set":
            data[at] = draw(st.integers(0, 255))
        elif kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "header":
            spot = draw(st.integers(0, min(HEADER_BYTES, len(data)) - 1))
            data[spot:spot + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                                                        b"\x7f\xff\xff\xff", b"\x00\x01\x00\x00"]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 256))]
        elif kind == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 512))] * draw(st.integers(1, 4))
        elif kind == "cut":
            del data[at:]
    return bytes(data)


def photo_seeds() -> list[bytes]:
    """The astronaut at 160 px (its face is still found) in every format the app reads."""
    from skimage import data

    small = cv2.resize(data.astronaut(), (160, 160), interpolation=cv2.INTER_AREA)
    pil = Image.fromarray(small)
    animated = io.BytesIO()
    pil.save(animated, "GIF", save_all=True, append_images=[pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    return [encode(small, "JPEG", quality=80), encode(small, "JPEG", quality=80, progressive=True),
            encode(small, "PNG"), encode(pil.convert("P"), "PNG"), encode(pil.convert("RGBA"), "PNG"),
            encode(small, "BMP"), encode(small, "WEBP"), encode(small, "TIFF"), animated.getvalue(),
            encode(pil.convert("CMYK"), "JPEG"), encode_heic(small)]


def hostile_bytes(seeds: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, or a damaged copy of one of ``seeds`` (more often: it goes deeper)."""
    return st.one_of(st.binary(max_size=4096), damaged(seeds), damaged(seeds))
