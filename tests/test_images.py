"""Decoding: formats, orientation, transparency, limits and damaged files never crashing."""

from __future__ import annotations

import io

import numpy as np
import pytest
from face_helpers import encode, encode_heic, png_claiming
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from faceinsight import images
from faceinsight.images import ImageDecodeError, ImageTooLargeError, decode_image

# A 60 x 40 test card: red left half, blue right half, a green band along the top.
CARD = np.zeros((40, 60, 3), np.uint8)
CARD[:, :30] = (255, 0, 0)
CARD[:, 30:] = (0, 0, 255)
CARD[:8] = (0, 255, 0)


def near(pixel: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    """True when an RGB pixel is within ``tolerance`` of ``colour`` on every channel."""
    return bool(np.all(np.abs(pixel.astype(int) - np.array(colour)) <= tolerance))


# --- decoding -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "WEBP"])
def test_decodes_common_formats_to_rgb_uint8(fmt: str) -> None:
    image = decode_image(encode(CARD, fmt, quality=95) if fmt in ("JPEG", "WEBP") else encode(CARD, fmt))
    assert image.shape == (40, 60, 3) and image.dtype == np.uint8
    assert near(image[30, 5], (255, 0, 0)) and near(image[30, 55], (0, 0, 255))


def test_exif_orientation_is_honoured() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the stored picture must be turned 90 degrees clockwise
    data = encode(CARD, "JPEG", quality=95, exif=exif.tobytes())
    image = decode_image(data)
    assert image.shape == (60, 40, 3)
    # Turned clockwise, the green top band becomes the right-hand side, red goes on top.
    assert near(image[30, 36], (0, 255, 0))
    assert near(image[5, 10], (255, 0, 0)) and near(image[55, 10], (0, 0, 255))


def test_heic_decodes_upright_to_rgb_uint8() -> None:
    """HEIC, the iPhone's default: colours kept, and a photo stored sideways with its rotation
    turned once (the decoder applies it; EXIF must not turn it a second time)."""
    image = decode_image(encode_heic(CARD))
    assert image.shape == (40, 60, 3) and image.dtype == np.uint8
    assert near(image[30, 5], (255, 0, 0)) and near(image[30, 55], (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = decode_image(encode_heic(CARD, exif))
    assert turned.shape == (60, 40, 3)
    assert near(turned[30, 36], (0, 255, 0))
    assert near(turned[5, 10], (255, 0, 0)) and near(turned[55, 10], (0, 0, 255))


def test_heic_size_is_checked_before_decoding() -> None:
    with pytest.raises(ImageTooLargeError, match="60x40 pixels; the limit is 2,000 pixels"):
        decode_image(encode_heic(CARD), max_pixels=2000)


def test_sixteen_bit_png_is_scaled_to_eight_bits() -> None:
    ramp = (np.arange(40 * 60, dtype=np.uint32).reshape(40, 60) * 27).astype(np.uint16)
    image = decode_image(encode(Image.fromarray(ramp), "PNG"))
    assert image.shape == (40, 60, 3) and image.dtype == np.uint8
    assert image[0, 0, 0] == 0 and image.max() == 255
    assert np.array_equal(image[..., 0], image[..., 1])


def test_cmyk_jpeg_becomes_rgb() -> None:
    image = decode_image(encode(Image.fromarray(CARD).convert("CMYK"), "JPEG", quality=95))
    assert image.shape == (40, 60, 3)
    assert near(image[30, 5], (255, 0, 0), 60)


def test_palette_image_becomes_rgb() -> None:
    palette = Image.fromarray(CARD).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    image = decode_image(encode(palette, "PNG"))
    assert image.shape == (40, 60, 3) and near(image[30, 55], (0, 0, 255))


def test_rgba_is_composited_on_white() -> None:
    rgba = np.dstack([CARD, np.full((40, 60), 255, np.uint8)])
    rgba[:, :10, 3] = 0  # transparent left strip
    image = decode_image(encode(rgba, "PNG"))
    assert image.shape == (40, 60, 3)
    assert near(image[30, 2], (255, 255, 255), 0) and near(image[30, 20], (255, 0, 0), 0)


@pytest.mark.parametrize("fmt", ["ICO", "TGA", "PPM", "JPEG2000", "PCX", "SGI"])
def test_formats_beyond_the_documented_ones_are_refused(fmt: str) -> None:
    """Only the decoders we name are exposed to uploads, whatever a file is called."""
    with pytest.raises(ImageDecodeError, match="not an image in a supported format"):
        decode_image(encode(CARD, fmt))


def test_gray_with_alpha_is_composited_on_white() -> None:
    la = Image.new("LA", (8, 6), (0, 255))
    la.putpixel((0, 0), (0, 0))
    image = decode_image(encode(la, "PNG"))
    assert image.shape == (6, 8, 3)
    assert image[0, 0].tolist() == [255, 255, 255] and image[5, 7].tolist() == [0, 0, 0]


def test_half_transparent_pixels_are_blended_with_white() -> None:
    levels = np.arange(0, 256, 15, dtype=np.uint8)
    rgba = np.zeros((len(levels), 4, 4), np.uint8)
    rgba[:, :, 0] = 200  # a red...
    rgba[:, :, 3] = levels[:, None]  # ... from transparent to opaque, row by row
    image = decode_image(encode(rgba, "PNG")).astype(int)
    alpha = levels[:, None].astype(float) / 255
    expected_red = 200 * alpha + 255 * (1 - alpha)
    assert np.abs(image[:, :, 0] - expected_red).max() <= 1
    assert np.abs(image[:, :, 1] - 255 * (1 - alpha)).max() <= 1


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (20, 10), (255, 0, 0)), Image.new("RGB", (20, 10), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    image = decode_image(data)
    assert image.shape == (10, 20, 3) and near(image[5, 5], (255, 0, 0), 10)


def test_one_pixel_image() -> None:
    image = decode_image(encode(np.full((1, 1, 3), 7, np.uint8), "PNG"))
    assert image.shape == (1, 1, 3) and image[0, 0].tolist() == [7, 7, 7]


@pytest.mark.parametrize("data", [b"", b"\x00", b"not an image at all",
                                  np.random.default_rng(3).bytes(5000)],
                         ids=["empty", "one-byte", "text", "random"])
def test_non_images_raise_decode_error(data: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("keep", [0.05, 0.5, 0.8])
def test_truncated_files_raise_decode_error(fmt: str, keep: float) -> None:
    noisy = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(noisy, fmt)
    with pytest.raises(ImageDecodeError):
        decode_image(data[:int(len(data) * keep)])


def test_png_with_valid_header_and_garbage_data_raises_decode_error() -> None:
    data = bytearray(encode(CARD, "PNG"))
    start = data.index(b"IDAT") + 4
    data[start:start + 50] = bytes(50)
    with pytest.raises(ImageDecodeError):
        decode_image(bytes(data))


@pytest.mark.parametrize(("width", "height", "message"), [
    (7_000, 7_000, "7000x7000 pixels; the limit is 40,000,000 pixels"),
    (10_000, 9_500, "10000x9500 pixels; the limit is 40,000,000 pixels"),  # Pillow only warns
    (20_000, 20_000, "20000x20000 pixels; the limit is 40,000,000 pixels"),  # Pillow refused it
    (100_000, 100_000, "100000x100000 pixels; the limit is 40,000,000 pixels"),
], ids=["over-our-limit", "over-pillow-warning", "over-pillow-error", "far-over"])
def test_decompression_bomb_is_refused_before_decoding(width: int, height: int, message: str,
                                                       monkeypatch) -> None:
    """Refused from the header, with our limit in our words whatever Pillow thinks of it."""
    def no_decoding(self, *args, **kwargs):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageTooLargeError, match=message):
        decode_image(png_claiming(width, height))


def test_a_limit_above_pillows_own_is_ours_to_set(monkeypatch) -> None:
    """A 200-megapixel phone photo (Pillow refuses from 179) is refused or read as max_pixels says."""
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self, *a, **k: None)
    claim = png_claiming(16_320, 12_240)
    with pytest.raises(ImageTooLargeError, match="16320x12240 pixels; the limit is 40,000,000"):
        decode_image(claim)
    with pytest.raises(ImageDecodeError) as caught:  # past every limit: only the bytes are missing
        decode_image(claim, max_pixels=250_000_000)
    assert not isinstance(caught.value, ImageTooLargeError)


def test_max_pixels_is_configurable() -> None:
    data = encode(np.zeros((100, 100, 3), np.uint8), "PNG")
    with pytest.raises(ImageTooLargeError, match="100x100"):
        decode_image(data, max_pixels=5_000)
    assert decode_image(data, max_pixels=10_000).shape == (100, 100, 3)


def test_too_large_is_a_decode_error() -> None:
    assert issubclass(ImageTooLargeError, ImageDecodeError)


def test_load_image_reports_a_missing_file(tmp_path) -> None:
    with pytest.raises(ImageDecodeError, match="cannot read"):
        images.load_image(tmp_path / "absent.jpg")


def test_to_gray_accepts_every_layout(astronaut: np.ndarray) -> None:
    gray = images.to_gray(astronaut)
    assert gray.shape == (512, 512) and gray.dtype == np.uint8
    assert images.to_gray(gray) is gray
    assert np.array_equal(images.to_gray(gray[..., None]), gray)


# --- properties -----------------------------------------------------------------------------

SAMPLE_FILES = {fmt: encode(np.random.default_rng(9).integers(0, 256, (24, 32, 3), dtype=np.uint8),
                            fmt) for fmt in ("JPEG", "PNG", "BMP", "WEBP", "GIF", "TIFF")}
SAMPLE_FILES["HEIF"] = encode_heic(np.random.default_rng(9).integers(0, 256, (24, 32, 3), dtype=np.uint8))


def decodes_or_refuses(data: bytes) -> None:
    """The only outcomes allowed: an RGB uint8 image, or ImageDecodeError."""
    try:
        image = decode_image(data)
    except ImageDecodeError:
        return
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    assert image.flags["C_CONTIGUOUS"]


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_never_crash_the_decoder(data: bytes) -> None:
    decodes_or_refuses(data)


@settings(max_examples=300, deadline=None)
@given(fmt=st.sampled_from(sorted(SAMPLE_FILES)), position=st.floats(0, 1),
       value=st.integers(0, 255), cut=st.floats(0.2, 1.0))
def test_damaged_files_never_crash_the_decoder(fmt: str, position: float, value: int, cut: float) -> None:
    data = bytearray(SAMPLE_FILES[fmt])
    data[int(position * (len(data) - 1))] = value
    decodes_or_refuses(bytes(data[:max(1, int(len(data) * cut))]))


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_fast_jpeg_decoding_matches_pillow(astronaut: np.ndarray, orientation: int) -> None:
    """Plain RGB JPEGs are decoded by OpenCV; the pixels and orientation must be Pillow's."""
    import io

    from PIL import ImageOps

    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(astronaut[:, :400], "JPEG", quality=95, exif=exif.tobytes())
    with Image.open(io.BytesIO(data)) as image:
        fast = images._decode_plain_jpeg(data, image)
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    assert fast is not None and fast.shape == expected.shape
    assert np.abs(fast.astype(int) - expected.astype(int)).mean() < 1.0
    assert np.array_equal(decode_image(data), fast)


def test_a_truncated_jpeg_is_left_to_pillow_and_refused(astronaut_jpeg: bytes) -> None:
    cut = astronaut_jpeg[: len(astronaut_jpeg) // 2]
    with Image.open(io.BytesIO(cut)) as image:
        assert images._decode_plain_jpeg(cut, image) is None
    with pytest.raises(ImageDecodeError):
        decode_image(cut)
