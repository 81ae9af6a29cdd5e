"""The served-path evaluation's scoring: matching boxes to placed faces, FER+ majorities, and the
catch-all measure. Made-up faces and folders only (the full run needs the datasets)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from faceinsight import analyze
from faceinsight.eval import camera, evaluate, scenes


def test_a_face_is_matched_to_its_nearest_box_whatever_order_the_boxes_come_in() -> None:
    square = (100, 100, 200)  # centre (200, 200); a box counts when its centre is within 50 px
    near, far = (110, 110, 180, 180), (140, 140, 150, 150)  # centres 0 and 15 px away
    assert scenes.match([far, near], [square]) == {0: 1}
    assert scenes.match([near, far], [square]) == {0: 0}


def test_each_box_serves_one_face_and_a_box_outside_the_middle_half_serves_none() -> None:
    squares = [(0, 0, 100), (60, 0, 100)]  # overlapping faces: centres (50, 50) and (110, 50)
    box = (30, 20, 60, 60)  # centre (60, 50): near both, nearer the first
    assert scenes.match([box], squares) == {0: 0}
    assert scenes.match([(300, 300, 50, 50)], squares) == {}


def row(true: str, said: str) -> dict:
    return {"found": True, "side": 100, "emotion": true, "served": {"emotion": said},
            "bare": {"emotion": said}, "true_square": {"emotion": said}}


def test_a_catch_all_class_shows_as_predicted_far_above_its_true_share() -> None:
    rows = [row("angry", "angry"), row("sad", "angry"), row("fear", "angry"), row("happy", "happy")]
    figures = evaluate.emotion_figures(rows)
    assert figures["predicted_over_true"]["angry"] == 3.0
    assert figures["predicted_over_true"]["sad"] == 0.0
    assert figures["predicted_over_true"]["neutral"] is None  # no neutral face to compare with
    assert figures["predicted_share"]["angry"] == 0.75 and figures["accuracy"] == 0.5


def fer_folder(root: Path) -> Path:
    """A FER2013 ``val/`` of four grey faces, two happy and two sad."""
    for emotion in ("happy", "sad"):
        (root / "val" / emotion).mkdir(parents=True)
        for number in range(2):
            face = np.full((48, 48), 60 + 40 * number, np.uint8)
            cv2.imwrite(str(root / "val" / emotion / f"PublicTest_{number}.jpg"), face)
    return root


def test_fer_validation_faces_carry_fer_plus_majorities(tmp_path: Path) -> None:
    fer = fer_folder(tmp_path / "fer2013")
    ferplus = tmp_path / "ferplus"
    ferplus.mkdir()
    header = "path,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    votes = {"val/happy/PublicTest_0.jpg": "0,9,0,1,0,0,0,0,0,0",  # happy by majority
             "val/happy/PublicTest_1.jpg": "5,5,0,0,0,0,0,0,0,0",  # a tie: no majority
             "val/sad/PublicTest_0.jpg": "6,0,0,4,0,0,0,0,0,0"}  # FER+ says neutral
    (ferplus / "labels.csv").write_text(header + "\n" + "\n".join(f"{k},{v}" for k, v in votes.items()))
    chips, labels = evaluate.load_fer_validation(fer, 4, np.random.default_rng(0), ferplus)
    assert len(chips) == 4
    by_emotion = sorted((label["emotion"], str(label["ferplus"])) for label in labels)
    assert by_emotion == [("happy", "None"), ("happy", "happy"), ("sad", "None"), ("sad", "neutral")]


def test_without_fer_plus_the_labels_are_the_original_ones(tmp_path: Path) -> None:
    _, labels = evaluate.load_fer_validation(fer_folder(tmp_path), 4, np.random.default_rng(0))
    assert sorted(label["emotion"] for label in labels) == ["happy", "happy", "sad", "sad"]
    assert all("ferplus" not in label for label in labels)


def test_a_camera_photo_is_a_jpeg_of_the_same_photo_changed_and_repeatable(astronaut: np.ndarray) -> None:
    first = camera.camera_photo(astronaut, np.random.default_rng(3))
    again = camera.camera_photo(astronaut, np.random.default_rng(3))
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(first, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert first == again and first[:2] == b"\xff\xd8"
    assert decoded.shape == astronaut.shape
    assert np.abs(decoded.astype(int) - astronaut).mean() > 3  # visibly changed, not re-saved


def test_a_colour_cast_moves_the_channels_apart() -> None:
    grey = np.full((40, 40, 3), 128, np.uint8)
    means = camera.white_balance(grey, np.random.default_rng(0)).reshape(-1, 3).mean(axis=0)
    assert means.max() - means.min() > 5 and (means > 90).all() and (means < 165).all()


def test_the_astronaut_is_still_found_and_read_as_a_woman_in_camera_photos(astronaut: np.ndarray,
                                                                         models) -> None:
    for seed in range(4):
        result = analyze.analyze_bytes(camera.camera_photo(astronaut, np.random.default_rng(seed)),
                                       models=models)
        assert len(result.faces) == 1
        assert result.faces[0].dump()["gender"] == "female"
