"""Choosing the faces read (the cap, the surest, reading order) and images given as one face crop."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest
from face_helpers import assert_face_contract, astronauts_in_a_photo, on_an_astronaut_face

from faceinsight import analyze, contract, images
from faceinsight.analyze import analyze_image, locate_faces
from faceinsight.crops import Framing
from faceinsight.detectors import Detection, HaarDetector
from faceinsight.labels import EMOTIONS
from faceinsight.models import FaceModels, Prediction


def test_max_faces_limits_the_result(astronaut: np.ndarray) -> None:
    none_read = analyze.find_faces(astronaut, HaarDetector(), Framing(), max_faces=0)
    assert none_read == analyze.FoundFaces([], 1)  # found, and counted, but not read


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
    assert all(on_an_astronaut_face(face.box, [spot]) for face, spot in zip(analysis.faces, placed,
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


# --- the answer -----------------------------------------------------------------------------


def test_the_analysis_is_the_contracts_answer_built_once(astronaut_jpeg: bytes, models: FaceModels) -> None:
    """analyze_bytes returns the web API's answer itself: faces made once as contract.Face,
    the timings of every stage and their total, no preview unless asked."""
    analysis = analyze.analyze_bytes(astronaut_jpeg, models=models)
    assert isinstance(analysis, contract.Analysis)
    assert all(type(face) is contract.Face for face in analysis.faces)
    answer = analysis.dump()
    assert list(answer) == ["faces", "faces_found", "image", "timing_ms"]
    assert answer["image"] == {"width": 512, "height": 512} and answer["faces_found"] == 1
    timing = answer["timing_ms"]
    assert list(timing) == ["decode", "detect", "predict", "total"] and timing["decode"] > 0
    assert timing["total"] == pytest.approx(timing["decode"] + timing["detect"] + timing["predict"], abs=0.02)
    assert_face_contract(answer["faces"][0])


def test_a_preview_is_a_jpeg_data_url_when_asked(astronaut_jpeg: bytes, models: FaceModels) -> None:
    answer = analyze.analyze_bytes(astronaut_jpeg, models=models, preview_side=100).dump()
    assert list(answer)[-1] == "preview" and answer["preview"].startswith("data:image/jpeg;base64,")
    preview = images.decode_image(base64.b64decode(answer["preview"].split(",", 1)[1]))
    assert preview.shape == (100, 100, 3)


def test_a_face_answer_rounds_and_names_the_models_numbers() -> None:
    scores = dict(zip(EMOTIONS, (0.1, 0.0, 0.05, 0.123456, 0.6, 0.1, 0.026544), strict=True))
    face = analyze.face_answer((1, 2, 3, 4), Prediction(18.46, (12, 25), 0.31234, scores)).dump()
    assert face == {"box": [1, 2, 3, 4], "age": 18.5, "age_range": [12, 25], "age_group": "19-30",
                    "gender": "male", "gender_probability": 0.6877, "emotion": "neutral",
                    "emotion_scores": {**scores, "fear": 0.05, "happy": 0.1235, "surprise": 0.0265}}
    assert_face_contract(face)


def test_the_largest_face_is_by_box_area_not_reading_order() -> None:
    predicted = Prediction(30.0, (25, 35), 0.9, {name: 1 / 7 for name in EMOTIONS})
    boxes = [(0, 0, 10, 10), (50, 0, 30, 20), (0, 90, 20, 20)]
    faces = [analyze.face_answer(box, predicted) for box in boxes]
    assert analyze.largest_face(faces) is faces[1] and analyze.largest_face([]) is None
