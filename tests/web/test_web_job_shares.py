"""Fair shares of the video queue: a session, or a client without a session cookie (by its
address), may have only FACEINSIGHT_JOB_PER_CLIENT jobs waiting or running; past it a 429 whose
Retry-After is estimated from the jobs ahead, while other senders' uploads are still accepted."""

from __future__ import annotations

import threading
import time

import pytest
from webhelpers import job_state, post_video

from faceinsight.jobs import runners
from faceinsight.jobs.access import new_job_id
from faceinsight.jobs.shares import SECONDS_PER_FRAME, wait_estimate_s
from faceinsight.web import create_app

SHARE = 3


@pytest.fixture
def app(app_config, monkeypatch):
    monkeypatch.setattr(runners, "execute_job", lambda *_args: None)  # accepted, never run
    application = create_app({**app_config, "FACEINSIGHT_JOB_PER_CLIENT": SHARE, "FACEINSIGHT_JOB_QUEUE": 20})
    yield application
    application.extensions["faceinsight.jobs"].shutdown()


def cookieless(app, address: str = "192.0.2.7"):
    client = app.test_client(use_cookies=False)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def set_state(app, job_id: str, **fields) -> None:
    store = app.extensions["faceinsight.jobs"].store
    store.create(store.load(job_id).revised(**fields))


def test_a_cookieless_client_past_its_share_gets_429_and_others_are_still_accepted(app, video_file):
    api = cookieless(app)
    accepted = [post_video(api, video_file) for _ in range(SHARE)]
    assert [answer.status_code for answer in accepted] == [202] * SHARE
    # Its first job is running at 10 s a frame with 2 of its 4 frames left: a place frees in ~20 s.
    set_state(app, accepted[0].get_json()["id"], status="running", started=time.time() - 20,
              frames_analyzed=2, frames_expected=4)

    refused = post_video(api, video_file)
    assert refused.status_code == 429
    message = refused.get_json()["error"]
    assert "this client" in message and f"{SHARE} video jobs waiting or running" in message
    assert 18 <= int(refused.headers["Retry-After"]) <= 23, refused.headers["Retry-After"]
    assert f"in about {refused.headers['Retry-After']} s" in message  # the same estimate, in words

    # A fresh session from the same address, and another cookieless client, are accepted.
    browser = app.test_client()
    browser.get("/")
    assert post_video(browser, video_file).status_code == 202
    assert post_video(cookieless(app, "198.51.100.9"), video_file).status_code == 202
    # Once one of its jobs ends, the client may send again.
    set_state(app, accepted[0].get_json()["id"], status="done")
    assert post_video(api, video_file).status_code == 202


def test_a_session_past_its_share_gets_429(app, video_file):
    browser = app.test_client()
    browser.get("/")
    assert [post_video(browser, video_file).status_code for _ in range(SHARE)] == [202] * SHARE
    refused = post_video(browser, video_file)
    assert refused.status_code == 429 and "this session" in refused.get_json()["error"]
    other = app.test_client()
    other.get("/")
    assert post_video(other, video_file).status_code == 202


def test_a_refused_upload_leaves_nothing(app, app_config, video_file):
    api = cookieless(app)
    for _ in range(SHARE):
        post_video(api, video_file)
    jobs = app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs"
    before = sorted(path.name for path in jobs.iterdir())
    assert post_video(api, video_file).status_code == 429
    assert sorted(path.name for path in jobs.iterdir()) == before


def test_a_job_state_never_holds_the_clients_address(app, app_config, video_file):
    job_id = post_video(cookieless(app, "203.0.113.77"), video_file).get_json()["id"]
    stored = (app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs" / job_id / "state.json").read_text()
    assert "203.0.113.77" not in stored and '"client": "' in stored


def test_the_full_queue_says_when_a_place_frees(app_config, video_file, monkeypatch):
    release = threading.Event()  # the first job holds the only place until the test ends
    monkeypatch.setattr(runners, "execute_job", lambda *_args: release.wait(60))
    app = create_app({**app_config, "FACEINSIGHT_JOB_QUEUE": 1})
    try:
        assert post_video(app.test_client(), video_file).status_code == 202
        full = post_video(app.test_client(), video_file)
        assert full.status_code == 429 and "on the server" in full.get_json()["error"]
        # One queued job of 4 frames ahead, at the default pace (within the floor).
        assert int(full.headers["Retry-After"]) == max(5, int(4 * SECONDS_PER_FRAME))
    finally:
        release.set()
        app.extensions["faceinsight.jobs"].shutdown()


def test_the_estimate_counts_the_jobs_ahead_and_the_workers():
    now = 1000.0
    states = [
        job_state(new_job_id(), created=1, status="running", started=now - 30, frames_analyzed=10,
                  frames_expected=40),
        job_state(new_job_id(), created=2, frames_expected=100, client="a"),
        job_state(new_job_id(), created=3, frames_expected=500, client="b"),
    ]
    # 3 s a frame; client b waits for 30 + 100 + 500 frames, client a for 30 + 100.
    assert wait_estimate_s(states, lambda s: s.client == "a", 1, now) == 390
    assert wait_estimate_s(states, lambda s: s.client == "b", 1, now) == 1890
    assert wait_estimate_s(states, lambda s: s.client == "b", 2, now) == 945
    assert wait_estimate_s(states, lambda s: True, 1, now) == 90
    assert wait_estimate_s([], lambda s: True, 1, now) == 5
