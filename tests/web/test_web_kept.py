"""The page's "Kept on the server" view: a session lists and deletes its own kept captures
and kept videos."""

from __future__ import annotations

import io
import time

import pytest
from webhelpers import keep_captures, upload, wait_for_job

from faceinsight.web.security import CSRF_HEADER


def test_a_session_deletes_one_of_its_kept_captures(client, app, app_config, astronaut_jpeg):
    token = keep_captures(client)
    first = upload(client, astronaut_jpeg, "one.jpg").get_json()["stored"]
    second = upload(client, astronaut_jpeg, "two.jpg").get_json()["stored"]
    url = f"/captures/{first['id']}"
    shown = client.get(url)
    assert shown.mimetype == "image/jpeg"
    assert f'filename=capture-{first["id"][:8]}.jpg' in shown.headers["Content-Disposition"]
    assert client.delete(url).status_code == 403  # no CSRF token
    stranger = app.test_client()
    stranger.get("/")
    assert stranger.delete(url, headers={CSRF_HEADER: token}).status_code in (403, 404)
    response = client.delete(url, headers={CSRF_HEADER: token})
    assert response.status_code == 200 and response.get_json() == {"deleted": first["id"]}
    assert client.get(url).status_code == 404
    listing = client.get("/session/captures").get_json()["captures"]
    assert [item["id"] for item in listing] == [second["id"]]
    assert client.delete(url, headers={CSRF_HEADER: token}).status_code == 404
    assert len(list(app_config["FACEINSIGHT_UPLOAD_DIR"].rglob("*.img"))) == 1
    assert client.delete("/captures/..%2F..%2Fsecret_key", headers={CSRF_HEADER: token}).status_code == 404


def test_a_kept_video_is_listed_and_deleted_on_its_own(client, app, app_config, video_file, astronaut_jpeg):
    """A video kept with the session's captures is listed beside them, and its own Delete
    removes it (before, only "Clear session" could, once the page had reloaded)."""
    token = keep_captures(client)
    capture = upload(client, astronaut_jpeg, "one.jpg").get_json()["stored"]
    form = {"file": (io.BytesIO(video_file.read_bytes()), "holiday.avi")}
    created = client.post("/api/v1/videos", data=form, content_type="multipart/form-data").get_json()
    assert wait_for_job(client, created["url"])["status"] == "done"
    listing = client.get("/session/captures").get_json()
    assert [video["id"] for video in listing["videos"]] == [created["id"]]
    video = listing["videos"][0]
    assert video["name"] == "holiday.avi" and video["status"] == "done" and video["url"] == created["url"]
    assert [item["id"] for item in listing["captures"]] == [capture["id"]]
    stranger = app.test_client()
    stranger.get("/")
    assert stranger.get("/session/captures").get_json()["videos"] == []  # only its own session's
    assert client.delete(video["url"], headers={CSRF_HEADER: token}).status_code == 200
    assert client.get("/session/captures").get_json()["videos"] == []
    assert not (app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs" / created["id"]).exists()


def test_a_video_not_kept_is_not_listed(client, video_file):
    form = {"file": (io.BytesIO(video_file.read_bytes()), "clip.avi")}
    created = client.post("/api/v1/videos", data=form, content_type="multipart/form-data").get_json()
    wait_for_job(client, created["url"])
    assert client.get("/session/captures").get_json()["videos"] == []


def test_a_request_in_flight_during_clear_session_keeps_nothing(client, app_config, video_file,
                                                                astronaut_jpeg):
    """A snapshot sent just before Clear session carries the old cookie (keep on, the old id):
    it was kept after the clear, under an id nobody could list or delete any more."""
    token = keep_captures(client)
    before_clear = client.get_cookie("faceinsight_session").value
    assert client.post("/session/clear", headers={CSRF_HEADER: token}).status_code == 200
    client.set_cookie("faceinsight_session", before_clear)  # a request sent before the clear
    answer = upload(client, astronaut_jpeg, "late.jpg")
    assert answer.status_code == 200 and answer.get_json()["faces"]
    assert "stored" not in answer.get_json() and "storage_error" not in answer.get_json()
    form = {"file": (io.BytesIO(video_file.read_bytes()), "late.avi")}
    refused = client.post("/api/v1/videos", data=form, content_type="multipart/form-data")
    assert refused.status_code == 409 and "session was cleared" in refused.get_json()["error"]
    listing = client.get("/session/captures").get_json()
    assert listing["captures"] == [] and listing["videos"] == []
    left = [path for path in app_config["FACEINSIGHT_UPLOAD_DIR"].rglob("*") if path.is_file()]
    assert [path.suffix for path in left] == [".cleared"]  # the mark alone: no capture, no job


def test_the_mark_of_a_cleared_session_is_swept_with_its_captures(tmp_path) -> None:
    from faceinsight.web.captures import CaptureStore, SessionClearedError

    store = CaptureStore(tmp_path)
    owner = "A" * 22
    store.save(owner, b"jpeg", "a.jpg", {})
    assert store.clear(owner) == 1 and store.was_cleared(owner)
    with pytest.raises(SessionClearedError):
        store.save(owner, b"jpeg", "b.jpg", {})
    store.sweep(max_age_s=3600)
    assert store.was_cleared(owner)  # still within the time a request may be in flight
    store.sweep(max_age_s=3600, now=time.time() + 7200)
    assert not store.was_cleared(owner) and list(tmp_path.rglob("*")) == [tmp_path / "captures"]
