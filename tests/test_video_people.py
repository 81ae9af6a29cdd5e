"""Tracks joined into people: the same face coming back joins its first track, another face or a
face seen in the same frame does not."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data
from video_clips import THREE_PEOPLE, write_comings_and_goings, write_three_people_taking_turns

from faceinsight.contract import VideoResults
from faceinsight.litert import ModelError
from faceinsight.models import (
    EMBEDDING_SIDE,
    EMBEDDING_WIDTH,
    MODELS_DIR,
    FaceModels,
    read_manifest,
    verify_model_files,
)
from faceinsight.video.analysis import analyze_video, face_descriptor
from faceinsight.video.people import (
    EMBEDDING_SCALE,
    JOIN_DISTANCE,
    PeopleJoiner,
    distances,
    embedding_input,
    embedding_views,
)
from faceinsight.video.results import results_csv

ASTRONAUT_BOX = (172, 67, 106, 106)  # where BlazeFace finds the astronaut's face


def astronaut_descriptor(models, gain: float = 1.0, shift: int = 0, scale: float = 1.0) -> np.ndarray:
    """The astronaut's face as the people joiner describes it: brighter or darker, its box
    moved, or the photo shrunk."""
    image = np.clip(data.astronaut().astype(np.float32) * gain, 0, 255).astype(np.uint8)
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    x, y, w, h = ASTRONAUT_BOX
    return face_descriptor(image, ((x + shift) * scale, (y - shift) * scale, w * scale, h * scale), models)


def other_descriptor(models) -> np.ndarray:
    """Another person: the cameraman (a man's face, grey) where BlazeFace finds it."""
    return face_descriptor(cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2RGB), (205, 125, 70, 70), models)


def record(box=(100, 80, 120, 120), female: float = 0.9) -> dict:
    gender = "female" if female >= 0.5 else "male"
    return {"box": list(box), "age": 30.0, "gender": gender, "gender_probability": max(female, 1 - female)}


def gap(joiner: PeopleJoiner, one: int, other: int) -> float:
    """The distance between two of the joiner's tracks."""
    ids = sorted(joiner.tracks)
    return float(distances([joiner.tracks[t] for t in ids])[ids.index(one), ids.index(other)])


def feed(joiner: PeopleJoiner, track: int, samples: range, descriptor: np.ndarray, **face) -> None:
    for sample in samples:
        joiner.add(sample, track, record(**face), descriptor)


def test_the_embedding_input_is_the_square_about_the_box(astronaut):
    square = embedding_input(astronaut, (200, 100, 60, 40))
    assert square.shape == (EMBEDDING_SIDE, EMBEDDING_SIDE, 3) and square.dtype == np.uint8
    side = round(60 * EMBEDDING_SCALE)
    x, y = round(230 - side / 2), round(120 - side / 2)
    expected = cv2.resize(astronaut[y:y + side, x:x + side], (EMBEDDING_SIDE, EMBEDDING_SIDE))
    assert np.abs(square.astype(int) - expected).mean() < 2
    corner = embedding_input(astronaut, (-20, -20, 60, 60))  # past the frame: the edge repeated
    assert corner.shape == (EMBEDDING_SIDE, EMBEDDING_SIDE, 3)
    view, mirror = embedding_views(astronaut, (200, 100, 60, 40))
    assert np.array_equal(view, square) and np.array_equal(mirror, square[:, ::-1])


def test_the_embedding_tells_one_person_from_another(models):
    me = astronaut_descriptor(models)
    assert me.shape == (128,) and np.isfinite(me).all()
    for again in (astronaut_descriptor(models, 1.2, 4), astronaut_descriptor(models, 0.7, -3),
                  astronaut_descriptor(models, scale=0.25)):
        assert np.linalg.norm(me - again) < JOIN_DISTANCE
    assert np.linalg.norm(me - other_descriptor(models)) > JOIN_DISTANCE + 0.15


def test_the_face_embedding_names_its_registry_source_and_loads_on_first_use(models_copy: Path) -> None:
    entry = read_manifest(MODELS_DIR)["models"]["face_embedding"]
    assert entry["input_shape"] == [1, EMBEDDING_SIDE, EMBEDDING_SIDE, 3]
    assert entry["size"] <= 6 * 1024 * 1024 and sum(c["size"] for c in entry["chunks"]) == entry["size"]
    assert entry["source"]["registry"] == "npm" and len(entry["source"]["weights_sha256"]) == 64
    assert "public domain" in entry["licence"] and entry["max_difference_from_reference"] < 0.01
    models = FaceModels(models_copy)
    assert models._embedding is None  # photos never load it
    descriptor = models.describe_face(np.full((EMBEDDING_SIDE, EMBEDDING_SIDE, 3), 128, np.uint8))
    assert descriptor.shape == (EMBEDDING_WIDTH,) and np.isfinite(descriptor).all()


def test_a_corrupt_face_embedding_stops_start_up(models_copy: Path) -> None:
    chunk = read_manifest(models_copy)["models"]["face_embedding"]["chunks"][2]["file"]
    (models_copy / chunk).write_bytes(b"\0" * (models_copy / chunk).stat().st_size)
    with pytest.raises(ModelError, match=chunk):
        verify_model_files(models_copy)


def test_the_same_face_coming_back_is_one_person(models):
    joiner = PeopleJoiner()
    feed(joiner, 1, range(0, 5), astronaut_descriptor(models))
    feed(joiner, 2, range(12, 16), astronaut_descriptor(models, 1.15, 3), box=(400, 90, 110, 110))
    feed(joiner, 3, range(30, 33), astronaut_descriptor(models, 0.85, -2), box=(250, 60, 130, 130))
    assert joiner.join() == {1: 1, 2: 1, 3: 1}


def test_another_face_is_another_person(models):
    joiner = PeopleJoiner()
    feed(joiner, 1, range(0, 5), astronaut_descriptor(models))
    feed(joiner, 2, range(12, 16), other_descriptor(models))
    feed(joiner, 3, range(20, 24), astronaut_descriptor(models, 1.1, 2))
    assert joiner.join() == {1: 1, 2: 2, 3: 1}


def test_tracks_seen_in_the_same_frame_are_never_one_person(models):
    """The same pixels twice in one frame (twins, a mirror): two people, at any threshold."""
    joiner = PeopleJoiner()
    feed(joiner, 1, range(0, 5), astronaut_descriptor(models))
    feed(joiner, 2, range(4, 9), astronaut_descriptor(models), box=(400, 80, 120, 120))
    feed(joiner, 3, range(20, 22), astronaut_descriptor(models), box=(250, 80, 120, 120))
    assert gap(joiner, 1, 2) == float("inf") and gap(joiner, 1, 3) < 0.1
    person_of = joiner.join(threshold=10.0)
    assert person_of[1] != person_of[2] and person_of[3] in (person_of[1], person_of[2])


def test_a_joined_person_keeps_apart_from_a_track_that_met_any_of_its_tracks(models):
    """Track 3 met track 1 (sample 2): whichever pair joins first, 1 and 3 never end as one."""
    joiner = PeopleJoiner()
    feed(joiner, 1, range(0, 5), astronaut_descriptor(models))
    feed(joiner, 2, range(10, 15), astronaut_descriptor(models, 1.1, 2))
    feed(joiner, 3, range(2, 3), astronaut_descriptor(models, 0.9, 1), box=(400, 80, 120, 120))
    feed(joiner, 3, range(16, 18), astronaut_descriptor(models, 0.9, 1), box=(400, 80, 120, 120))
    person_of = joiner.join(threshold=10.0)
    assert person_of[1] != person_of[3] and len(set(person_of.values())) == 2


def test_sure_and_different_genders_hold_tracks_apart(models):
    joiner = PeopleJoiner()
    feed(joiner, 1, range(0, 3), astronaut_descriptor(models), female=0.97)
    feed(joiner, 2, range(10, 13), astronaut_descriptor(models, 1.1, 2), female=0.03)
    feed(joiner, 3, range(20, 23), astronaut_descriptor(models, 1.1, 2), female=0.95)
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


def test_three_people_taking_turns_are_three_people(tmp_path):
    """Each leaves and comes back twice, never two at once: only their faces tell them apart."""
    path = tmp_path / "turns.avi"
    write_three_people_taking_turns(path)
    results = analyze_video(str(path), 2.0)
    assert results["summary"]["tracks"] == len(THREE_PEOPLE) and results["summary"]["people"] == 3
    person_of_track = {track["track"]: track["person"] for track in results["tracks"]}
    who = [name for name, _, _ in THREE_PEOPLE]  # tracks are numbered in order of appearance
    people = {name: {person_of_track[i + 1] for i, n in enumerate(who) if n == name} for name in set(who)}
    assert all(len(ids) == 1 for ids in people.values()) and len(set.union(*people.values())) == 3


def test_results_stored_before_people_still_give_a_csv():
    face = {**record(), "age_range": [25, 35], "age_group": "adult", "emotion": "neutral",
            "emotion_scores": dict.fromkeys(("angry", "disgust", "fear", "happy", "neutral", "sad",
                                             "surprise"), 1 / 7), "track": 1}
    old = {"frames": [{"frame": 0, "source_frame": 0, "time_s": 0.0, "faces": [face]}]}
    [row] = list(csv.DictReader(io.StringIO(results_csv(old))))
    assert row["track"] == "1" and row["person"] == ""
