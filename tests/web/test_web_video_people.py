"""People over the API: a finished job's results give each track its person, the people with
their tracks and thumbnails, and the CSV a person column; results stored before people still
serve."""

from __future__ import annotations

import csv
import io
import json

from video_clips import write_comings_and_goings
from webhelpers import post_video, wait_for_job

from faceinsight.contract import VideoResults
from faceinsight.web.videos import jobs


def test_a_face_that_comes_back_is_one_person_over_the_api(client, tmp_path):
    clip = tmp_path / "back.avi"
    write_comings_and_goings(clip)
    state = wait_for_job(client, post_video(client, clip, sample_fps="2").get_json()["url"])
    assert state["status"] == "done", state
    results = state["results"]
    VideoResults.model_validate(results, strict=True)
    assert results["summary"]["people"] == 1 and results["summary"]["tracks"] == 3
    [person] = results["people"]
    assert person["tracks"] == [1, 2, 3] and person["frames"] == 6
    assert [track["person"] for track in results["tracks"]] == [1, 1, 1]
    assert all(face["person"] == 1 for frame in results["frames"] for face in frame["faces"])
    # The thumbnail's frame is served, and its box is one of that frame's faces.
    thumbnail = person["thumbnail"]
    frame_url = state["links"]["frame"].replace("{frame}", str(thumbnail["frame"]))
    assert client.get(frame_url).status_code == 200
    assert thumbnail["box"] in [face["box"] for face in results["frames"][thumbnail["frame"]]["faces"]]
    rows = list(csv.DictReader(io.StringIO(client.get(state["links"]["csv"]).get_data(as_text=True))))
    assert list(rows[0])[3:5] == ["track", "person"]
    assert {row["person"] for row in rows if row["track"]} == {"1"}


def test_results_stored_before_people_are_still_served(client, app, tmp_path):
    clip = tmp_path / "back.avi"
    write_comings_and_goings(clip)
    state = wait_for_job(client, post_video(client, clip, sample_fps="2").get_json()["url"])
    with app.app_context():
        stored = jobs().store.folder(state["id"]) / "results.json"
    old = json.loads(stored.read_text())
    del old["people"], old["summary"]["people"]
    for track in old["tracks"]:
        del track["person"]
    for frame in old["frames"]:
        for face in frame["faces"]:
            del face["person"]
    stored.write_text(json.dumps(old))
    assert client.get(state["links"]["self"]).get_json()["results"] == old
    rows = list(csv.DictReader(io.StringIO(client.get(state["links"]["csv"]).get_data(as_text=True))))
    assert {row["person"] for row in rows} == {""}
    assert {row["track"] for row in rows if row["track"]} == {"1", "2", "3"}
