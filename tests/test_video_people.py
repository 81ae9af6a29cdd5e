"""Tracks joined into people: the same face coming back joins its first track, another face or a
face seen in the same frame does not."""

from __future__ import annotations

import csv
import io

import cv2
import numpy as np
import pytest
from face_helpers import ASTRONAUT_FACE
from skimage import data
from video_clips import write_comings_and_goings

from faceinsight.contract import VideoResults
from faceinsight.crops import AGE_GENDER_SIZE, prepare_crop
from faceinsight.video.analysis import analyze_video
from faceinsight.video.people import JOIN_DISTANCE, PeopleJoiner, distances, face_descriptor
from faceinsight.video.results import results_csv


def astronaut_crop(gain: float = 1.0, shift: int = 0) -> np.ndarray:
    """The astronaut's face as the age/gender model reads it, a little brighter or moved."""
    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.float32)
    x0, y0, x1, y1 = ASTRONAUT_FACE
    face = np.clip(grey[y0 + shift:y1 + shift, x0 - shift:x1 - shift] * gain, 0, 255).astype(np.uint8)
    return prepare_crop(face, AGE_GENDER_SIZE)


def other_crop() -> np.ndarray:
    """Something that is not the astronaut: the cameraman photo's upper middle."""
    return prepare_crop(data.camera()[40:200, 180:340], AGE_GENDER_SIZE)


def record(box=(100, 80, 120, 120), female: float = 0.9) -> dict:
    gender = "female" if female >= 0.5 else "male"
    return {"box": list(box), "age": 30.0, "gender": gender, "gender_probability": max(female, 1 - female)}


def gap(joiner: PeopleJoiner, one: int, other: int) -> float:
    """The distance between two of the joiner's tracks."""
    ids = sorted(joiner.tracks)
    return float(distances([joiner.tracks[t] for t in ids])[ids.index(one), ids.index(other)])


def feed(joiner: PeopleJoiner, track: int, samples: range, crop: np.ndarray, **face) -> None:
    for sample in samples:
        joiner.add(sample, track, record(**face), crop)


def test_the_descriptor_is_a_unit_vector_that_tells_faces_apart():
    same = face_descriptor(astronaut_crop()) @ face_descriptor(astronaut_crop(1.15, 3))
    other = face_descriptor(astronaut_crop()) @ face_descriptor(other_crop())
    assert np.linalg.norm(face_descriptor(other_crop())) == pytest.approx(1.0, abs=1e-5)
    assert 1 - same < JOIN_DISTANCE < 1 - other


def test_the_same_face_coming_back_is_one_person():
    joiner = PeopleJoiner()
    feed(joiner, 1, range(0, 5), astronaut_crop())
    feed(joiner, 2, range(12, 16), astronaut_crop(1.15, 3), box=(400, 90, 110, 110))
    feed(joiner, 3, range(30, 33), astronaut_crop(0.85, -2), box=(250, 60, 130, 130))
    assert joiner.join() == {1: 1, 2: 1, 3: 1}


def test_another_face_is_another_person():
    joiner = PeopleJoiner()
    feed(joiner, 1, range(0, 5), astronaut_crop())
    feed(joiner, 2, range(12, 16), other_crop())
    feed(joiner, 3, range(20, 24), astronaut_crop(1.1, 2))
    assert joiner.join() == {1: 1, 2: 2, 3: 1}


def test_tracks_seen_in_the_same_frame_are_never_one_person():
    """The same pixels twice in one frame (twins, a mirror): two people, at any threshold."""
    joiner = PeopleJoiner()
    feed(joiner, 1, range(0, 5), astronaut_crop())
    feed(joiner, 2, range(4, 9), astronaut_crop(), box=(400, 80, 120, 120))
    feed(joiner, 3, range(20, 22), astronaut_crop(), box=(250, 80, 120, 120))
    assert gap(joiner, 1, 2) == float("inf") and gap(joiner, 1, 3) < 0.1
    person_of = joiner.join(threshold=10.0)
    assert person_of[1] != person_of[2] and person_of[3] in (person_of[1], person_of[2])


def test_a_joined_person_keeps_apart_from_a_track_that_met_any_of_its_tracks():
    """Track 3 met track 1 (sample 2): whichever pair joins first, 1 and 3 never end as one."""
    joiner = PeopleJoiner()
    feed(joiner, 1, range(0, 5), astronaut_crop())
    feed(joiner, 2, range(10, 15), astronaut_crop(1.1, 2))
    feed(joiner, 3, range(2, 3), astronaut_crop(0.9, 1), box=(400, 80, 120, 120))
    feed(joiner, 3, range(16, 18), astronaut_crop(0.9, 1), box=(400, 80, 120, 120))
    person_of = joiner.join(threshold=10.0)
    assert person_of[1] != person_of[3] and len(set(person_of.values())) == 2


def test_sure_and_different_genders_hold_tracks_apart():
    joiner = PeopleJoiner()
    feed(joiner, 1, range(0, 3), astronaut_crop(), female=0.97)
    feed(joiner, 2, range(10, 13), astronaut_crop(1.1, 2), female=0.03)
    feed(joiner, 3, range(20, 23), astronaut_crop(1.1, 2), female=0.95)
    assert gap(joiner, 1, 2) > gap(joiner, 1, 3)


def test_a_face_that_leaves_and_comes_back_twice_is_one_person_in_the_results(tmp_path):
    path = tmp_path / "back.avi"
    write_comings_and_goings(path)
    results = analyze_video(str(path), 2.0)
    VideoResults.model_validate(results, strict=True)
    assert results["summary"]["tracks"] == 3 and results["summary"]["people"] == 1
    [person] = results["people"]
    assert person["person"] == 1 and person["tracks"] == [1, 2, 3] and person["frames"] == 6
    assert (person["first_s"], person["last_s"]) == (0.0, 8.5)
    assert {track["person"] for track in results["tracks"]} == {1}
    thumbnail = person["thumbnail"]
    faces = {frame["frame"]: frame["faces"] for frame in results["frames"]}
    assert thumbnail["box"] in [face["box"] for face in faces[thumbnail["frame"]]]
    rows = list(csv.DictReader(io.StringIO(results_csv(results))))
    assert {row["person"] for row in rows if row["track"]} == {"1"}


def test_results_stored_before_people_still_give_a_csv():
    face = {**record(), "age_range": [25, 35], "age_group": "adult", "emotion": "neutral",
            "emotion_scores": dict.fromkeys(("angry", "disgust", "fear", "happy", "neutral", "sad",
                                             "surprise"), 1 / 7), "track": 1}
    old = {"frames": [{"frame": 0, "source_frame": 0, "time_s": 0.0, "faces": [face]}]}
    [row] = list(csv.DictReader(io.StringIO(results_csv(old))))
    assert row["track"] == "1" and row["person"] == ""
