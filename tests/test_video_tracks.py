"""One video track is one person: position jumps, scene cuts and a different face end a track."""

from __future__ import annotations

import numpy as np

from faceinsight.video.analysis import analyze_video, summarise
from faceinsight.video.results import results_csv
from faceinsight.video.tracking import FACE_JUMP, IouTracker, frame_signature, is_scene_cut


def face(box, age, gender, probability):
    scores = dict.fromkeys(("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"), 0.0)
    scores["neutral"] = 1.0
    return {"box": list(box), "age": age, "gender": gender, "gender_probability": probability,
            "emotion": "neutral", "emotion_scores": scores}


def run(tracker, sequence):
    """Feed (faces, cut) samples; returns the frames as analyze_video builds them."""
    frames = []
    for number, (faces, cut) in enumerate(sequence):
        ids = tracker.update([f["box"] for f in faces], faces, cut=cut)
        for f, track in zip(faces, ids, strict=True):
            f["track"] = f["person"] = track  # people are joined after tracking (tests/test_video_people.py)
        frames.append({"frame": number, "source_frame": number, "time_s": number * 0.5, "faces": faces})
    return frames


def test_a_different_person_in_the_same_place_starts_a_new_track():
    # A woman of about 30 for five samples, then (no cut detected) a man of about 65 in her place,
    # his box overlapping hers: position alone would call them one face.
    woman = [([face((100 + i, 80, 120, 120), 29 + i % 3, "female", 0.96)], False) for i in range(5)]
    man = [([face((108 + i, 84, 118, 118), 64 + i % 2, "male", 0.93)], False) for i in range(5)]
    frames = run(IouTracker(), woman + man)
    ids = [frame["faces"][0]["track"] for frame in frames]
    assert ids == [1] * 5 + [2] * 5
    tracks, _, summary = summarise(frames)
    assert summary["tracks"] == 2
    assert [(t["gender"], t["first_s"], t["last_s"]) for t in tracks] == [("female", 0.0, 2.0),
                                                                          ("male", 2.5, 4.5)]
    assert tracks[0]["median_age"] < 35 < 60 < tracks[1]["median_age"]


def test_another_face_in_the_same_place_starts_a_new_track_whatever_the_models_read():
    """Age and gender alike (unsure readings), but the face embedding tells the faces apart:
    the people joiner can join a track split by mistake, never split one holding two people."""
    rng = np.random.default_rng(0)
    me, other = rng.normal(0, 0.1, 128), rng.normal(0, 0.1, 128)
    assert np.linalg.norm(me - other) > FACE_JUMP
    face = {"age": 30.0, "gender": "male", "gender_probability": 0.6}
    tracker = IouTracker()
    box = [100, 100, 80, 80]
    ids = [tracker.update([box], [face], descriptors=[d])[0] for d in (me, me + 0.001, other, other)]
    assert ids == [1, 1, 2, 2]
    assert IouTracker().update([box], [face]) == [1]  # no descriptors: position and readings only


def test_noise_in_one_person_keeps_one_track():
    # An unsure gender flip and a few years of age noise are the models' noise, not a new person.
    noisy = [face((100, 80, 120, 120), 30, "male", 0.9), face((102, 80, 120, 120), 38, "female", 0.55),
             face((104, 81, 120, 120), 27, "male", 0.8), face((105, 82, 119, 119), 41, "male", 0.97)]
    frames = run(IouTracker(), [([f], False) for f in noisy])
    assert {frame["faces"][0]["track"] for frame in frames} == {1}


def test_a_scene_cut_ends_every_track_and_a_jump_starts_one():
    same = face((100, 80, 120, 120), 30, "male", 0.9)
    frames = run(IouTracker(), [([dict(same)], False), ([dict(same)], True),
                                ([face((400, 300, 120, 120), 30, "male", 0.9)], False)])
    assert [frame["faces"][0]["track"] for frame in frames] == [1, 2, 3]


def test_scene_cut_detection_tells_a_cut_from_motion():
    rng = np.random.default_rng(0)
    indoor = np.zeros((120, 160, 3), np.uint8)
    indoor[:, :80] = (200, 120, 60)
    indoor[:, 80:] = (40, 60, 160)
    indoor = np.clip(indoor + rng.integers(0, 20, indoor.shape), 0, 255).astype(np.uint8)
    moved = np.roll(indoor, 12, axis=1)
    outdoor = np.full_like(indoor, (60, 170, 70))
    assert not is_scene_cut(None, frame_signature(indoor))
    assert not is_scene_cut(frame_signature(indoor), frame_signature(moved))
    assert is_scene_cut(frame_signature(indoor), frame_signature(outdoor))


def write_two_shot_video(path, frames_per_shot: int = 10, side: int = 320):
    """The astronaut in colour, then a cut to a black-and-white shot of her in the same place."""
    import cv2
    from skimage import data

    colour = cv2.resize(data.astronaut(), (side, side))
    grey = cv2.cvtColor(cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (side, side))
    for i in range(2 * frames_per_shot):
        shot = colour if i < frames_per_shot else grey
        writer.write(cv2.cvtColor(np.roll(shot, i, axis=1), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_a_cut_between_two_shots_gives_two_tracks_on_the_served_path(tmp_path):
    results = analyze_video(str(write_two_shot_video(tmp_path / "two.avi")), 4.0)
    ids = [[face["track"] for face in frame["faces"]] for frame in results["frames"]]
    assert ids == [[1]] * 4 + [[2]] * 4
    assert [(t["first_s"], t["last_s"]) for t in results["tracks"]] == [(0.0, 0.8), (1.0, 1.8)]


def test_a_face_moving_a_box_side_between_samples_keeps_its_track():
    """At 2 frames/s a head moving across the picture overlaps little from sample to sample."""
    steps = [face((100 + 60 * i, 90 + (i % 2) * 4, 78, 78), 28, "female", 0.8) for i in range(6)]
    frames = run(IouTracker(), [([dict(f)], False) for f in steps])
    assert [frame["faces"][0]["track"] for frame in frames] == [1] * 6


def test_two_people_side_by_side_keep_their_own_tracks():
    frames = run(IouTracker(), [
        ([face((100 + 10 * i, 100, 90, 90), 30, "male", 0.9),
          face((260 - 10 * i, 100, 90, 90), 30, "female", 0.9)], False) for i in range(5)])
    assert {tuple(f["track"] for f in frame["faces"]) for frame in frames} == {(1, 2)}


def test_a_frames_faces_come_in_reading_order_in_the_results_and_the_csv(tmp_path):
    """A small face on the left and a large one on the right: the left one is listed first in
    every frame, and in the CSV (they were listed largest first)."""
    import csv
    import io

    import cv2
    from skimage import data

    colour = data.astronaut()
    small = np.zeros((512, 384, 3), np.uint8)
    small[64:448] = cv2.resize(colour, (384, 384), interpolation=cv2.INTER_AREA)
    frame = cv2.cvtColor(np.hstack([small, colour]), cv2.COLOR_RGB2BGR)
    path = tmp_path / "pair.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 4.0, frame.shape[1::-1])
    for _ in range(4):
        writer.write(frame)
    writer.release()
    results = analyze_video(str(path), 4.0)
    for analysed in results["frames"]:
        boxes = [face["box"] for face in analysed["faces"]]
        assert len(boxes) == 2 and boxes[0][0] < boxes[1][0] and boxes[0][2] < boxes[1][2]
    rows = list(csv.DictReader(io.StringIO(results_csv(results))))
    assert [int(row["box_x"]) < 384 for row in rows] == [True, False] * len(results["frames"])
