"""The face pipeline: decoding every kind of file, detection on a real face, and the crops."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from face_helpers import ASTRONAUT_FACE, box_on_astronaut_face, encode, encode_heic, png_claiming
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from faceinsight import analyze, boxes, crops, images
from faceinsight.analyze import analyze_image, locate_faces
from faceinsight.boxes import reading_order
from faceinsight.crops import WHOLE_BOX, Framing
from faceinsight.detectors import BlazeFaceDetector, Detection, HaarDetector
from faceinsight.images import ImageDecodeError, ImageTooLargeError, decode_image
from faceinsight.models import MODELS_DIR, FaceModels

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


# --- detection ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["haar", "blazeface"])
def detector(request, models: FaceModels):
    """Each detector the product serves with (BlazeFace's weights come from the manifest)."""
    if request.param == "haar":
        return HaarDetector()
    return models.detector if models.detector.name == "blazeface" else FaceModels(
        MODELS_DIR, detector="blazeface").detector


def test_detects_exactly_the_astronauts_face(astronaut: np.ndarray, detector) -> None:
    boxes = detector.detect(astronaut)
    assert len(boxes) == 1
    assert box_on_astronaut_face(boxes[0])


def test_detection_survives_jpeg_round_trip(astronaut_jpeg: bytes, models: FaceModels) -> None:
    faces = locate_faces(decode_image(astronaut_jpeg), models).crops
    assert len(faces) == 1 and box_on_astronaut_face(faces[0].box)


def test_no_face_in_a_blank_or_tiny_image(detector) -> None:
    assert detector.detect(np.full((200, 300), 128, np.uint8)) == []
    assert detector.detect(np.zeros((10, 10), np.uint8)) == []
    nothing = analyze.find_faces(np.zeros((1, 1, 3), np.uint8), detector, Framing())
    assert nothing == analyze.FoundFaces([], 0)


def test_detection_runs_on_a_bounded_copy_and_maps_boxes_back(astronaut: np.ndarray, detector) -> None:
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)  # 4x the photo
    boxes = detector.detect(big)
    assert any(box_on_astronaut_face(tuple(round(v / 4) for v in box)) for box in boxes)


@pytest.mark.parametrize("side", [500, 640, 1000, 3000])
def test_bounded_copy_matches_plain_area_averaging(astronaut: np.ndarray, side: int) -> None:
    from faceinsight.detectors import bounded_copy

    photo = cv2.resize(astronaut, (side, side * 3 // 4), interpolation=cv2.INTER_AREA)
    small, factor = bounded_copy(photo, 192)
    expected = cv2.resize(photo, small.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert max(small.shape[:2]) == 192 and factor == pytest.approx(side / 192)
    assert np.abs(small.astype(int) - expected).mean() < 1.0  # grey levels


def test_boxes_are_plain_ints_largest_first(astronaut: np.ndarray, detector) -> None:
    small = np.zeros((512, 384, 3), np.uint8)  # a second, smaller face beside the first
    small[:384] = cv2.resize(astronaut, (384, 384), interpolation=cv2.INTER_AREA)
    side_by_side = np.hstack([astronaut, small])
    boxes = detector.detect(side_by_side)
    assert len(boxes) >= 2 and all(type(v) is int for box in boxes for v in box)
    areas = [w * h for _, _, w, h in boxes]
    assert areas == sorted(areas, reverse=True)


def test_scored_detections_are_the_same_faces_surest_first(astronaut: np.ndarray, detector) -> None:
    small = np.zeros((512, 384, 3), np.uint8)
    small[:384] = cv2.resize(astronaut, (384, 384), interpolation=cv2.INTER_AREA)
    side_by_side = np.hstack([astronaut, small])
    scored = detector.detect_scored(side_by_side)
    assert len(scored) >= 2 and all(type(found.score) is float for found in scored)
    assert [found.score for found in scored] == sorted((found.score for found in scored), reverse=True)
    assert sorted(found.box for found in scored) == sorted(detector.detect(side_by_side))


def test_haar_scores_leave_its_boxes_as_they_were(astronaut: np.ndarray) -> None:
    """The level weights come from detectMultiScale3; its boxes must be the plain call's."""
    haar = HaarDetector()
    gray = cv2.equalizeHist(images.to_gray(astronaut))
    for photo in (gray, np.hstack([gray, cv2.resize(gray, (256, 256)).repeat(2, axis=0)])):
        plain = haar._cascade().detectMultiScale(photo, scaleFactor=1.1, minNeighbors=5,
                                                 minSize=(40, 40))
        boxes, _, weights = haar._cascade().detectMultiScale3(
            photo, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40), outputRejectLevels=True)
        assert len(plain) >= 1 and sorted(map(tuple, plain)) == sorted(map(tuple, boxes))
        assert len(np.ravel(weights)) == len(boxes)


def test_haar_confirms_a_face_box_and_not_a_background_box(astronaut: np.ndarray) -> None:
    gray = images.to_gray(astronaut)
    face = HaarDetector().detect(astronaut)[0]
    x, y, w, h = face
    assert HaarDetector().confirms(gray, face)
    assert HaarDetector().confirms(gray, (x + w // 10, y - h // 10, w, h))  # a box off by a tenth
    assert not HaarDetector().confirms(gray, (20, 400, w, h))  # the suit, bottom left
    assert not HaarDetector().confirms(gray, (x, y, w // 3, h // 3))  # an eye-sized box


@pytest.mark.parametrize("min_neighbors", [1, 2])
def test_haar_check_answers_as_one_search_over_all_sizes(astronaut: np.ndarray, min_neighbors: int) -> None:
    """The check searches the sizes near the box first and stops at a face; its answer must
    be that of one search over every size, on faces and on background alike."""
    haar = HaarDetector()
    gray = cv2.equalizeHist(images.to_gray(astronaut))
    x, y, w, h = haar.detect(gray)[0]
    rng = np.random.default_rng(0)
    answers = []
    for _ in range(60):
        side = int(rng.integers(30, 90))
        left, top = int(rng.integers(0, 512 - 2 * side)), int(rng.integers(0, 512 - 2 * side))
        if len(answers) % 3 == 0:  # every third region holds the face
            left, top, side = max(0, x - w // 3), max(0, y - h // 3), w
        region = cv2.resize(gray[top:top + 2 * side, left:left + 2 * side], None, fx=48 / side,
                            fy=48 / side, interpolation=cv2.INTER_AREA)
        smallest, largest = 28, 86
        whole = haar._cascade().detectMultiScale(region, scaleFactor=haar.CHECK_SCALE_STEP,
                                                 minNeighbors=min_neighbors, minSize=(smallest, smallest),
                                                 maxSize=(largest, largest))
        staged = haar._finds_face(region, 48, smallest, largest, min_neighbors)
        answers.append((len(whole) > 0, staged))
    assert all(whole == staged for whole, staged in answers)
    assert {whole for whole, _ in answers} == {True, False}  # both kinds of region were met


def test_blazeface_keeps_unsure_boxes_only_where_haar_confirms(astronaut: np.ndarray, monkeypatch) -> None:
    blazeface = FaceModels(MODELS_DIR, detector="blazeface").detector
    face = HaarDetector().detect(astronaut)[0]
    background = (20, 400, face[2], face[3])
    candidates = {"sure face": [(face, 0.9)], "unsure face": [(face, 0.3)],
                  "sure background": [(background, 0.9)], "unsure background": [(background, 0.3)]}
    kept = {}
    for name, found in candidates.items():
        monkeypatch.setattr(blazeface, "_candidates", lambda image, found=found: found)
        kept[name] = blazeface.detect(astronaut)
    assert kept == {"sure face": [face], "unsure face": [face],
                    "sure background": [background], "unsure background": []}


def test_an_unsure_box_over_a_face_already_found_is_not_a_second_face(astronaut: np.ndarray) -> None:
    """The astronaut at 724 px in a 2500 x 1875 photo: BlazeFace also gives an unsure box over
    her chin and neck, which the Haar check "confirmed" by finding her face beside it, so one
    face came out as two (and /predict answered for the wrong one: male, 54)."""
    blazeface = FaceModels(MODELS_DIR, detector="blazeface").detector
    photo = np.full((1875, 2500, 3), 180, np.uint8)
    photo[575:575 + 724, 888:888 + 724] = cv2.resize(astronaut, (724, 724), interpolation=cv2.INTER_AREA)
    photo = decode_image(encode(photo, "JPEG", quality=92))
    candidates = blazeface._candidates(photo)
    assert len(candidates) >= 2  # the photo still holds the unsure box this test is about
    [box] = blazeface.detect(photo)
    assert box_on_astronaut_face(tuple(round((v - offset) * 512 / 724) for v, offset
                                       in zip(box, (888, 575, 0, 0), strict=True)))


def test_an_unsure_box_apart_from_the_faces_found_is_still_checked(astronaut: np.ndarray,
                                                                   monkeypatch) -> None:
    blazeface = FaceModels(MODELS_DIR, detector="blazeface").detector
    face = HaarDetector().detect(astronaut)[0]
    x, y, w, h = face
    below = (x - w // 10, y + h // 2, w, h)  # half of it over the face: that face again
    monkeypatch.setattr(blazeface, "_candidates", lambda image: [(face, 0.9), (below, 0.2)])
    assert blazeface.detect(astronaut) == [face]
    checked = []
    monkeypatch.setattr(blazeface.checker, "confirms", lambda gray, box: checked.append(box) or True)
    apart = (20, 400, w, h)
    monkeypatch.setattr(blazeface, "_candidates", lambda image: [(face, 0.9), (below, 0.2), (apart, 0.2)])
    assert set(blazeface.detect(astronaut)) == {face, apart} and checked == [apart]


@pytest.mark.parametrize("edge", ["left", "top", "right"])
def test_a_face_cut_by_the_edge_is_reported_inside_the_image(astronaut: np.ndarray, models: FaceModels,
                                                            edge: str) -> None:
    """Cut through the astronaut's face: the detector's box reaches past the edge, the
    reported box stops at it, and the models' crops are those of the whole detector box."""
    photo = {"left": astronaut[:, 195:], "top": astronaut[95:], "right": astronaut[:, :255]}[edge]
    [found] = models.detector.detect(photo)
    [face] = locate_faces(photo, models).crops
    height, width = photo.shape[:2]
    x, y, w, h = face.box
    assert 0 <= x and 0 <= y and x + w <= width and y + h <= height
    assert face.box != found and face.box == boxes.clip_box(found, width, height)
    gray = images.to_gray(photo)
    assert np.array_equal(face.age_gender, crops.crop_face(gray, found, models.framing.age_gender, 128))


def test_clip_box_keeps_a_box_inside_the_image() -> None:
    assert boxes.clip_box((-10, 5, 30, 20), 100, 50) == (0, 5, 20, 20)
    assert boxes.clip_box((90, 40, 30, 30), 100, 50) == (90, 40, 10, 10)
    assert boxes.clip_box((10, 10, 20, 20), 100, 50) == (10, 10, 20, 20)
    assert boxes.clip_box((150, 60, 10, 10), 100, 50) == (99, 49, 1, 1)


def tight_crop(astronaut: np.ndarray, face: tuple[int, int, int, int], side: int) -> np.ndarray:
    """The astronaut's photo cut at ``face`` (x0, y0, x1, y1), enlarged to ``side`` pixels: a
    saved crop, an avatar, an ID photo."""
    x0, y0, x1, y1 = face
    return cv2.resize(astronaut[y0:y1, x0:x1], (side, side), interpolation=cv2.INTER_CUBIC)


def on_the_tight_crop_face(box, face: tuple[int, int, int, int], side: int) -> bool:
    """Whether a box found in a :func:`tight_crop` lies on the astronaut's face."""
    x0, y0, x1, _ = face
    scale = (x1 - x0) / side
    return box_on_astronaut_face((round(box[0] * scale + x0), round(box[1] * scale + y0),
                                  round(box[2] * scale), round(box[3] * scale)))


# Her face from forehead to chin, and the same cut 15 px into it at the top and left.
ASTRONAUT_FACE_CUT = (ASTRONAUT_FACE[0] + 15, ASTRONAUT_FACE[1] + 15, *ASTRONAUT_FACE[2:])


@pytest.mark.parametrize("face", [ASTRONAUT_FACE, ASTRONAUT_FACE_CUT], ids=["face box", "cut by the edge"])
def test_a_face_filling_the_image_is_found_and_read(astronaut: np.ndarray, models: FaceModels,
                                                   face: tuple[int, int, int, int]) -> None:
    """A face that fills the image, as a saved crop does: one box on it, read as a woman."""
    crop = decode_image(encode(tight_crop(astronaut, face, 300), "JPEG", quality=92))
    result = analyze_image(crop, models=models)
    assert len(result.faces) == 1, result.faces
    [found] = result.faces
    assert on_the_tight_crop_face(found["box"], face, 300) and found["gender"] == "female", found


def test_a_face_the_first_look_misses_is_found_by_the_padded_look(astronaut: np.ndarray) -> None:
    """The full-range model misses some faces that fill its input (a third of UTKFace's chips);
    the second look, at a copy with a border, finds them, in the image's own pixels."""
    blazeface = FaceModels(MODELS_DIR, detector="blazeface").detector
    crop = tight_crop(astronaut, ASTRONAUT_FACE_CUT, 300)
    assert blazeface.detect_scored(crop, second_look=False) == []  # the case this test is about
    [box] = blazeface.detect(crop)
    assert on_the_tight_crop_face(box, ASTRONAUT_FACE_CUT, 300), box


@pytest.mark.parametrize("name", ["blank", "noise", "suit", "rocket", "coffee"])
def test_an_image_without_a_face_gives_none_at_the_second_look_either(astronaut: np.ndarray,
                                                                     models: FaceModels, name: str) -> None:
    from skimage import data

    images = {"blank": lambda: np.full((200, 200, 3), 200, np.uint8),
              "noise": lambda: np.random.default_rng(0).integers(0, 256, (200, 200, 3), np.uint8),
              "suit": lambda: astronaut[300:, :212], "rocket": lambda: data.rocket()[100:400, 200:500],
              "coffee": lambda: data.coffee()[:300, :300]}
    image = np.ascontiguousarray(images[name]())
    assert models.detector.detect(image) == []
    assert analyze_image(image, models=models).faces == []


def test_a_group_photo_under_1280_px_gives_every_face(astronaut: np.ndarray) -> None:
    """Three people 300 px tall in a 1200 x 600 photo (faces of about 60 px, a twentieth of its
    width): none was found while tiles began at 1280 px."""
    blazeface = FaceModels(MODELS_DIR, detector="blazeface").detector
    placed = [(50, 150, 300), (450, 100, 300), (850, 200, 300)]
    faces = blazeface.detect(astronauts_in_a_photo(astronaut, (600, 1200), placed))
    assert len(faces) == 3 and all(on_an_astronaut_face(box, placed) for box in faces), faces
    assert BlazeFaceDetector(blazeface.model).tiles(480, 640) == []  # the evaluation's photos: none


@pytest.mark.parametrize(("height", "width", "count", "side"), [
    (480, 640, 0, 0), (960, 1279, 0, 0), (1500, 2000, 4, 1200), (600, 4000, 9, 600), (3000, 400, 10, 400)])
def test_large_photos_are_also_searched_in_overlapping_tiles(height: int, width: int, count: int,
                                                             side: int) -> None:

    tiles = BlazeFaceDetector(b"", tile_from=1280).tiles(height, width)
    assert len(tiles) == count and all(s == side for _, _, s in tiles)
    if tiles:  # the tiles cover the photo, each overlapping its neighbour by a fifth at least
        xs, ys = sorted({x for x, _, _ in tiles}), sorted({y for _, y, _ in tiles})
        assert xs[0] == 0 and ys[0] == 0 and xs[-1] + side == width and ys[-1] + side == height
        gaps = np.diff(xs).tolist() + np.diff(ys).tolist()
        assert all(gap <= 0.8 * side for gap in gaps)


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


def test_a_group_photo_gives_every_face(astronaut: np.ndarray) -> None:
    """Five people in a 2000 x 1500 photo, faces of 75-140 px: the whole photo at 192 px finds
    only the largest; the tiles find them all, and a face found only in a tile is checked."""
    blazeface = FaceModels(MODELS_DIR, detector="blazeface").detector
    placed = [(100, 200, 380), (650, 150, 440), (1200, 250, 400), (300, 850, 500), (1150, 800, 560)]
    photo = astronauts_in_a_photo(astronaut, (1500, 2000), placed)
    faces = blazeface.detect(photo)
    assert len(faces) == 5 and all(on_an_astronaut_face(box, placed) for box in faces)
    whole_only = analyze.find_faces(photo, type(blazeface)(blazeface.model, tile_from=0), Framing())
    assert whole_only.found == len(whole_only.crops) < 5
    unsure = [box for box, score in blazeface._candidates(photo) if score < blazeface.sure_score]
    assert any(on_an_astronaut_face(box, placed) for box in unsure)  # found by a tile only, checked


def test_a_small_persons_head_and_shoulders_is_not_taken_for_one_face(astronaut: np.ndarray) -> None:
    """Portraits of 160 px in a 2400 x 1800 photo (faces of about 35 px): a tile at 192 px took
    one astronaut's head and shoulders for an 82 px face, read as a sad man of 49, and two such
    boxes sat beside two real faces. A closer look at each box finds the real face in it."""
    blazeface = FaceModels(MODELS_DIR, detector="blazeface").detector
    placed = [(1280, 160, 160), (1760, 480, 160), (1760, 1600, 160), (1600, 800, 160)]
    blue_gray = (150, 160, 170)
    faces = blazeface.detect(astronauts_in_a_photo(astronaut, (1800, 2400), placed, blue_gray))
    assert len(faces) == 4 and all(on_an_astronaut_face(box, placed) for box in faces), faces
    alone = blazeface.detect(astronauts_in_a_photo(astronaut, (1800, 2400), placed[:1], blue_gray))
    assert len(alone) == 1 and on_an_astronaut_face(alone[0], placed[:1]), alone


def test_a_closer_look_finds_large_faces_again(astronaut: np.ndarray) -> None:
    """In a tiled photo every box must be found again by a closer look: large faces are."""
    blazeface = FaceModels(MODELS_DIR, detector="blazeface").detector
    placed = [(200, 200, 900), (1300, 300, 800)]
    faces = blazeface.detect(astronauts_in_a_photo(astronaut, (1500, 2400), placed))
    assert len(faces) == 2 and all(on_an_astronaut_face(box, placed) for box in faces), faces


@pytest.mark.parametrize(("height", "width", "coarse", "fine"), [
    (3024, 4032, (4, 2419), (12, 1209)), (2000, 3000, (4, 1800), (12, 900)), (2399, 2399, (4, 1439), None),
    (600, 4000, (9, 600), None), (4000, 400, (13, 400), None)])
def test_photos_from_2400_px_are_also_searched_in_finer_tiles(height: int, width: int, coarse: tuple,
                                                              fine: tuple | None) -> None:
    """A crowd's faces are smaller still: from 2,400 px, tiles of 30 % of the longer side too,
    but not in a panorama, whose first tiles are already as small as the photo allows."""

    tiles = BlazeFaceDetector(b"").tiles(height, width)
    sides = [side for _, _, side in tiles]
    levels = [(sides.count(side), side) for side in sorted(set(sides), reverse=True)]
    assert levels == [coarse] + ([fine] if fine else [])
    for level in {side for side in sides}:  # each level covers the photo, edge to edge
        xs = sorted({x for x, _, s in tiles if s == level})
        ys = sorted({y for _, y, s in tiles if s == level})
        assert xs[0] == ys[0] == 0 and xs[-1] + level == width and ys[-1] + level == height
        assert all(gap <= 0.8 * level for gap in np.diff(xs).tolist() + np.diff(ys).tolist())


def test_a_crowd_in_a_large_photo_gives_every_face(astronaut: np.ndarray) -> None:
    """Sixteen people in a 4000 x 3000 photo, faces of about 70-80 px (2 % of its side): the
    first tiles find few; the finer ones find them all, each box on a face."""
    blazeface = FaceModels(MODELS_DIR, detector="blazeface").detector
    placed = [(100 + 480 * i, 400 + 1100 * j + 60 * (i % 2), 380 + 30 * ((i + j) % 3))
              for j in range(2) for i in range(8)]
    photo = astronauts_in_a_photo(astronaut, (3000, 4000), placed)
    faces = blazeface.detect(photo)
    assert len(faces) == len(placed) and all(on_an_astronaut_face(box, placed) for box in faces)
    coarse_only = type(blazeface)(blazeface.model, fine_from=0).detect(photo)
    assert sum(on_an_astronaut_face(box, placed) for box in coarse_only) < len(placed) // 2


def test_max_faces_limits_the_result(astronaut: np.ndarray) -> None:
    none_read = analyze.find_faces(astronaut, HaarDetector(), Framing(), max_faces=0)
    assert none_read == analyze.FoundFaces([], 1)  # found, and counted, but not read


def test_reading_order_goes_row_by_row_left_to_right() -> None:
    """Faces of a row sit a little higher or lower (within half a face height) and differ in
    size; a face clearly lower starts the next row."""
    boxes = [(400, 110, 90, 90), (40, 100, 80, 80), (220, 80, 100, 100),  # row 1, out of order
             (300, 300, 80, 80), (60, 330, 80, 80),  # row 2: 30 px apart, under half of 80
             (200, 500, 80, 80), (20, 560, 80, 80)]  # 60 px apart: two rows
    order = reading_order(boxes)
    assert [boxes[i] for i in order] == [(40, 100, 80, 80), (220, 80, 100, 100), (400, 110, 90, 90),
                                         (60, 330, 80, 80), (300, 300, 80, 80),
                                         (200, 500, 80, 80), (20, 560, 80, 80)]
    assert reading_order([]) == []


class ScoredBoxes:
    """A detector that finds the given faces, whatever the image."""

    name = "stub"

    def __init__(self, detections: list[Detection]):
        self.detections = detections

    def detect_scored(self, image: np.ndarray) -> list[Detection]:
        return sorted(self.detections, key=lambda found: found.score, reverse=True)


def test_a_crowd_over_the_cap_reads_the_surest_faces_in_reading_order() -> None:
    """120 faces on a 12 x 10 grid, the larger the less sure: the 100 surest are read (not the
    100 largest), numbered row by row, and all 120 are counted."""
    rng = np.random.default_rng(7)
    scores = rng.permutation(120) / 120
    detections = [Detection((20 + 100 * (i % 12), 20 + 100 * (i // 12), 80 - int(30 * s), 80 - int(30 * s)),
                            float(s)) for i, s in enumerate(scores)]
    found = analyze.find_faces(np.zeros((1040, 1240, 3), np.uint8), ScoredBoxes(detections), Framing())
    assert analyze.MAX_FACES == 100
    assert found.found == 120 and len(found.crops) == 100
    surest = {d.box for d in detections if d.score >= scores[np.argsort(scores)[20]]}
    assert {crop.box for crop in found.crops} == surest
    corners = [(crop.box[1] // 100, crop.box[0]) for crop in found.crops]  # (row, x)
    assert corners == sorted(corners)


def test_a_grid_of_25_equal_faces_reads_all_25_in_reading_order(astronaut: np.ndarray,
                                                                  models: FaceModels) -> None:
    """Issue 26: of 25 equal faces, the cap of 20 left out the 5 with the smallest boxes."""
    placed = [(20 + 320 * column, 20 + 320 * row, 300) for row in range(5) for column in range(5)]
    analysis = analyze_image(astronauts_in_a_photo(astronaut, (1620, 1620), placed), models=models)
    assert analysis.faces_found == len(analysis.faces) == 25
    assert all(on_an_astronaut_face(face["box"], [spot]) for face, spot in zip(analysis.faces, placed,
                                                                               strict=True))


def test_the_cap_keeps_the_surest_faces_not_the_largest(astronaut: np.ndarray, models: FaceModels) -> None:
    """Six people in a row: three blurred and pasted larger (larger boxes, lower scores), three
    sharp. Read three: the sharp ones, left to right."""
    blurred = cv2.GaussianBlur(astronaut, (0, 0), 5)
    placed = [(20 + 380 * i, 20, 360 if i % 2 == 0 else 300) for i in range(6)]
    photo = np.full((400, 20 + 380 * 6, 3), 200, np.uint8)
    for i, (x, y, side) in enumerate(placed):
        photo[y:y + side, x:x + side] = cv2.resize(blurred if i % 2 == 0 else astronaut, (side, side),
                                                   interpolation=cv2.INTER_AREA)
    scored = models.detector.detect_scored(photo)
    assert len(scored) == 6 and all(on_an_astronaut_face(found.box, placed) for found in scored)
    sharp = placed[1::2]
    surest = scored[:3]
    assert all(on_an_astronaut_face(found.box, sharp) for found in surest)  # the premise: sharp is surer
    assert min(f.box[2] for f in scored[3:]) > max(f.box[2] for f in surest)  # ... and smaller
    found = locate_faces(photo, models, max_faces=3)
    assert found.found == 6
    assert [crop.box for crop in found.crops] == sorted((f.box for f in surest), key=lambda box: box[0])


# --- crops ----------------------------------------------------------------------------------


def test_crops_have_the_model_sizes_and_are_equalised(astronaut_crops) -> None:
    assert astronaut_crops.age_gender.shape == (128, 128)
    assert astronaut_crops.emotion.shape == (48, 48)
    for crop in (astronaut_crops.age_gender, astronaut_crops.emotion):
        assert crop.dtype == np.uint8
        assert crop.min() <= 10 and crop.max() >= 245  # equalisation spreads the histogram
        assert np.array_equal(crop, crops.prepare_crop(crop, crop.shape[0]))  # idempotent


def test_crops_use_the_geometry_the_manifest_ships(astronaut: np.ndarray, models: FaceModels) -> None:
    gray = images.to_gray(astronaut)
    face = locate_faces(astronaut, models).crops[0]
    expected = crops.crop_face(gray, face.box, models.framing.age_gender, 128)
    assert np.array_equal(face.age_gender, expected)
    assert not np.array_equal(face.age_gender, crops.crop_face(gray, face.box, WHOLE_BOX, 128))


def test_geometry_scales_and_shifts_the_square_from_the_box() -> None:
    geometry = crops.CropGeometry(scale=1.5, dx=0.1, dy=-0.2)
    assert geometry.square((100, 50, 40, 20)) == pytest.approx((124.0, 52.0, 60.0))
    assert WHOLE_BOX.square((0, 0, 10, 10)) == (5.0, 5.0, 10.0)


def test_crop_face_without_rotation_is_the_resized_square(astronaut: np.ndarray) -> None:
    gray = images.to_gray(astronaut)
    crop = crops.crop_face(gray, (100, 60, 200, 200), crops.CropGeometry(0.5), 64)
    assert np.array_equal(crop, crops.prepare_crop(gray[110:210, 150:250], 64))


def test_crop_face_rotation_turns_the_crop(astronaut: np.ndarray) -> None:
    gray = images.to_gray(astronaut)
    plain = crops.crop_face(gray, (150, 50, 140, 140), WHOLE_BOX, 128, angle=0.0)
    turned = crops.crop_face(gray, (150, 50, 140, 140), WHOLE_BOX, 128, angle=90.0)
    assert turned.shape == (128, 128)
    quarter = cv2.equalizeHist(np.rot90(cv2.resize(gray[50:190, 150:290], (128, 128))))
    assert np.abs(turned.astype(int) - quarter.astype(int)).mean() < 12
    assert np.abs(turned.astype(int) - plain.astype(int)).mean() > 30


def test_crop_box_inside_the_image_is_a_plain_slice() -> None:
    gray = np.arange(100, dtype=np.uint8).reshape(10, 10)
    assert np.array_equal(crops.crop_box(gray, (2, 3, 4, 5)), gray[3:8, 2:6])


@pytest.mark.parametrize("box", [(-5, -5, 10, 10), (6, 6, 10, 10), (-3, 4, 20, 3), (-20, -20, 50, 50)])
def test_crop_box_pads_at_the_edges_by_replication(box: tuple[int, int, int, int]) -> None:
    gray = np.arange(100, dtype=np.uint8).reshape(10, 10)
    crop = crops.crop_box(gray, box)
    x, y, w, h = box
    assert crop.shape == (h, w)
    rows = np.clip(np.arange(y, y + h), 0, 9)
    cols = np.clip(np.arange(x, x + w), 0, 9)
    assert np.array_equal(crop, gray[np.ix_(rows, cols)])


def test_face_at_the_image_edge_still_gives_full_crops(astronaut: np.ndarray) -> None:
    gray = images.to_gray(astronaut)
    x, y, w, h = HaarDetector().detect(gray)[0]
    corner = gray[y + 10:, x + 10:]  # the face now runs off the top-left edge
    face = crops.crops_for_box(corner, (-10, -10, w, h), Framing())
    assert face.age_gender.shape == (128, 128) and face.emotion.shape == (48, 48)


def test_no_detect_takes_the_whole_image_as_the_face(face_crop: np.ndarray) -> None:
    found = analyze.find_faces(face_crop, None, Framing())
    faces = found.crops
    assert found.found == 1
    height, width = face_crop.shape[:2]
    assert len(faces) == 1 and faces[0].box == (0, 0, width, height)
    assert faces[0].age_gender.shape == (128, 128) and faces[0].emotion.shape == (48, 48)


def test_no_detect_takes_the_image_as_given_unless_too_small_to_be_a_face() -> None:
    faces = analyze.find_faces(np.full((27, 20, 3), 90, np.uint8), None, Framing()).crops
    assert faces[0].box == (0, 0, 20, 27) and faces[0].age_gender.shape == (128, 128)
    with pytest.raises(images.ImageRefusedError, match="5x7 pixels; a face crop must be at least 20"):
        analyze.find_faces(np.full((7, 5, 3), 90, np.uint8), None, Framing())


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


@settings(max_examples=200, deadline=None)
@given(x=st.integers(-60, 60), y=st.integers(-60, 60), w=st.integers(1, 80), h=st.integers(1, 80))
def test_crop_box_always_has_the_box_shape(x: int, y: int, w: int, h: int) -> None:
    gray = np.arange(20 * 30, dtype=np.int32).reshape(20, 30)
    crop = crops.crop_box(gray, (x, y, w, h))
    rows, cols = np.clip(np.arange(y, y + h), 0, 19), np.clip(np.arange(x, x + w), 0, 29)
    assert np.array_equal(crop, gray[np.ix_(rows, cols)])


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
