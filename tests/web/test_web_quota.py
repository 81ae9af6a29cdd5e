"""What one session may keep: FACEINSIGHT_KEEP_MAX_MB and FACEINSIGHT_KEEP_MAX_ITEMS for its
captures and kept videos together, and nothing kept under FACEINSIGHT_KEEP_MIN_FREE_MB of free
disk. Past them an upload is still analysed; the answer says why it was not kept (storage_error),
as for a full disk."""

from __future__ import annotations

import pytest
from webhelpers import keep_captures, post_video, upload, wait_for_job

from faceinsight.web import create_app, quota
from faceinsight.web.security import CSRF_HEADER
from faceinsight.web.settings import MB


@pytest.fixture
def make_client(app_config):
    made = []

    def make(**settings):
        application = create_app({**app_config, **settings})
        made.append(application)
        client = application.test_client()
        return client, keep_captures(client)

    yield make
    for application in made:
        application.extensions["faceinsight.jobs"].shutdown()


def kept_bytes(app_config) -> int:
    return sum(path.stat().st_size for path in (app_config["FACEINSIGHT_UPLOAD_DIR"] / "captures").rglob("*")
               if path.is_file())


def test_a_session_keeps_at_most_its_quota_and_is_told(make_client, app_config, astronaut_jpeg):
    quota_bytes = 3.5 * len(astronaut_jpeg)
    client, token = make_client(FACEINSIGHT_KEEP_MAX_MB=quota_bytes / MB)
    answers = [upload(client, astronaut_jpeg, f"{n}.jpg") for n in range(8)]
    assert all(answer.status_code == 200 and answer.get_json()["faces"] for answer in answers)
    bodies = [answer.get_json() for answer in answers]
    kept = [body for body in bodies if "stored" in body]
    refused = [body["storage_error"] for body in bodies if "storage_error" in body]
    assert len(kept) == 3 and len(refused) == 5
    assert refused[0].startswith("the capture was not kept: this session keeps")
    assert "the most one session may keep" in refused[0] and "Kept on the server" in refused[0]
    assert kept_bytes(app_config) <= quota_bytes
    assert len(client.get("/session/captures").get_json()["captures"]) == 3

    # Deleting a kept capture makes room again.
    assert client.delete(kept[0]["stored"]["url"], headers={CSRF_HEADER: token}).status_code == 200
    assert "stored" in upload(client, astronaut_jpeg, "again.jpg").get_json()


def test_a_session_keeps_at_most_its_count(make_client, astronaut_jpeg):
    client, _ = make_client(FACEINSIGHT_KEEP_MAX_ITEMS=2)
    answers = [upload(client, astronaut_jpeg).get_json() for _ in range(3)]
    assert ["stored" in answer for answer in answers] == [True, True, False]
    assert "already keeps 2 captures and videos" in answers[2]["storage_error"]
    # Another session has its own quota.
    other, _ = make_client(FACEINSIGHT_KEEP_MAX_ITEMS=2)
    assert "stored" in upload(other, astronaut_jpeg).get_json()


def test_nothing_is_kept_under_the_free_disk_floor(make_client, app_config, astronaut_jpeg, monkeypatch):
    client, _ = make_client(FACEINSIGHT_KEEP_MIN_FREE_MB=500)
    monkeypatch.setattr(quota, "_free_bytes", lambda: 400 * MB)
    answer = upload(client, astronaut_jpeg).get_json()
    assert answer["faces"] and "stored" not in answer
    assert answer["storage_error"] == ("the capture was not kept: the server's disk is nearly full, "
                                       "so nothing more is kept for now")
    assert kept_bytes(app_config) == 0
    monkeypatch.setattr(quota, "_free_bytes", lambda: 600 * MB)
    assert "stored" in upload(client, astronaut_jpeg).get_json()


def test_kept_videos_count_against_the_same_quota(make_client, app_config, video_file, astronaut_jpeg):
    video_size = video_file.stat().st_size
    client, token = make_client(FACEINSIGHT_KEEP_MAX_MB=(video_size + len(astronaut_jpeg) / 2) / MB)
    kept = post_video(client, video_file)
    assert kept.status_code == 202 and "storage_error" not in kept.get_json()
    assert wait_for_job(client, kept.get_json()["url"])["keep"] is True

    photo = upload(client, astronaut_jpeg).get_json()  # the video fills the quota
    assert "stored" not in photo and "the most one session may keep" in photo["storage_error"]
    second = post_video(client, video_file)  # analysed, not kept, and told so
    assert second.status_code == 202
    assert second.get_json()["storage_error"].startswith("the video is analysed but not kept: ")
    state = wait_for_job(client, second.get_json()["url"])
    assert state["status"] == "done" and state["keep"] is False
    jobs = app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs"
    assert not list((jobs / second.get_json()["id"]).glob("video*"))
    listed = client.get("/session/captures").get_json()["videos"]
    assert [video["id"] for video in listed] == [kept.get_json()["id"]]

    # Deleting the kept video frees its room.
    assert client.delete(kept.get_json()["url"], headers={CSRF_HEADER: token}).status_code == 200
    assert "stored" in upload(client, astronaut_jpeg).get_json()
