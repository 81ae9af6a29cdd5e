"""Video analysis and video jobs, in both backends (in-process pool, and RQ on a real Redis)."""

from __future__ import annotations

import csv
import io
import threading
import time

import pytest
from face_helpers import assert_face_contract
from webhelpers import (
    free_port,
    keep_captures,
    overlaps_astronaut_face,
    page_csrf,
    post_video,
    wait_for_job,
    wait_until,
    write_video,
)

from faceinsight.contract import VideoFace, VideoJob, VideoJobCreated, VideoResults
from faceinsight.images import DEFAULT_MAX_PIXELS
from faceinsight.jobs import runners
from faceinsight.labels import EMOTIONS
from faceinsight.video.analysis import VideoTooLong, analyze_video
from faceinsight.video.decoder import VideoError, probe
from faceinsight.video.results import CSV_FIELDS, results_csv
from faceinsight.video.tracking import IouTracker
from faceinsight.web import create_app
from faceinsight.web.security import CSRF_HEADER

# --- faceinsight.video ---------------------------------------------------------------------

def test_tracker_links_overlapping_boxes_and_splits_distant_ones():
    tracker = IouTracker()
    assert tracker.update([[0, 0, 10, 10], [100, 100, 10, 10]]) == [1, 2]
    assert tracker.update([[101, 101, 10, 10], [1, 0, 10, 10]]) == [2, 1]
    assert tracker.update([[300, 300, 10, 10]]) == [3]
    for _ in range(6):
        tracker.update([])
    assert tracker.update([[0, 0, 10, 10]]) == [4]  # track 1 ended after the gap


def test_analyze_video_samples_tracks_and_summarises(video_file):
    seen = []
    frames_kept = []
    results = analyze_video(str(video_file), 2.0, progress=lambda done, total: seen.append((done, total)),
                            on_frame=lambda n, rgb, faces: frames_kept.append((n, rgb.shape)))
    assert [f["time_s"] for f in results["frames"]] == [0.0, 0.5, 1.0, 1.5]
    assert [f["source_frame"] for f in results["frames"]] == [0, 5, 10, 15]
    assert seen[-1] == (4, 4) and len(frames_kept) == 4 and frames_kept[0][1] == (320, 320, 3)
    assert results["video"]["width"] == 320 and results["video"]["fps"] == 10.0
    first = results["frames"][0]["faces"]
    assert first and overlaps_astronaut_face(first[0]["box"], scale=320 / 512)
    # The drifting face keeps one track id through the video.
    on_face = {face["track"] for frame in results["frames"] for face in frame["faces"]
               if overlaps_astronaut_face([face["box"][0] - frame["source_frame"], *face["box"][1:]],
                                          scale=320 / 512)}
    assert len(on_face) == 1
    summary = results["summary"]
    assert summary["frames_analyzed"] == 4 and summary["tracks"] == len(results["tracks"]) >= 1
    assert summary["dominant_emotion"] in EMOTIONS
    results["video"]["name"] = "clip.avi"  # the job adds the upload's name
    VideoResults.model_validate(results, strict=True)
    for frame in results["frames"]:
        for face in frame["faces"]:
            assert_face_contract(face, VideoFace)


@pytest.mark.parametrize(("name", "fourcc"), [("clip.mp4", "mp4v"), ("clip.mov", "mp4v"),
                                              ("clip.webm", "VP80"), ("clip.mkv", "MJPG")])
def test_containers_the_page_accepts(tmp_path, name, fourcc):
    try:
        path = write_video(tmp_path / name, frames=10, side=160, fourcc=fourcc)
    except AssertionError:
        pytest.skip(f"this OpenCV build cannot write {fourcc} into {name}")
    results = analyze_video(str(path), 5.0)
    assert len(results["frames"]) == 5 and results["video"]["width"] == 160


def test_results_csv_has_a_row_per_face(video_file):
    results = analyze_video(str(video_file), 2.0)
    rows = list(csv.DictReader(io.StringIO(results_csv(results))))
    assert list(rows[0]) == CSV_FIELDS
    assert len(rows) == sum(max(1, len(f["faces"])) for f in results["frames"])


def test_video_errors(tmp_path, video_file):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"definitely not a video" * 50)
    with pytest.raises(VideoError):
        probe(str(garbage), DEFAULT_MAX_PIXELS)
    with pytest.raises(VideoTooLong):
        analyze_video(str(video_file), 2.0, max_seconds=1.0)
    with pytest.raises(VideoTooLong):
        analyze_video(str(video_file), 10.0, max_frames=5)
    with pytest.raises(VideoError):
        analyze_video(str(video_file), 0)


# --- the API, in-process backend ---------------------------------------------------------------

def test_video_job_runs_to_completion(client, video_file, app_config):
    response = post_video(client, video_file, sample_fps="2")
    assert response.status_code == 202
    created = response.get_json()
    VideoJobCreated.model_validate(created, strict=True)
    # storage_error only when a session keeping captures has this video not kept
    assert list(created) == [name for name in VideoJobCreated.model_fields if name != "storage_error"]
    assert response.headers["Location"] == created["url"]
    state = wait_for_job(client, created["url"])
    VideoJob.model_validate(state, strict=True)
    assert state["status"] == "done" and state["progress"] == 100 and state["error"] is None
    assert state["name"] == "clip.avi" and "owner" not in state
    results = state["results"]
    assert len(results["frames"]) == 4 and results["summary"]["frames_analyzed"] == 4
    # The uploaded video is gone once analysed (the user did not opt in to keeping it).
    job_dir = app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs" / created["id"]
    assert not list(job_dir.glob("video*"))

    csv_response = client.get(state["links"]["csv"])
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"
    assert csv_response.headers["Content-Disposition"] == "attachment; filename=clip-faces.csv"
    assert csv_response.get_data(as_text=True).startswith("frame,source_frame,time_s,track")
    json_response = client.get(state["links"]["json"])
    assert json_response.status_code == 200 and json_response.get_json() == results
    assert json_response.headers["Content-Disposition"] == "attachment; filename=clip-faces.json"

    frame_url = state["links"]["frame"].replace("{frame}", "0")
    frame = client.get(frame_url)
    assert frame.status_code == 200 and frame.mimetype == "image/jpeg" and frame.data[:2] == b"\xff\xd8"
    assert client.application.test_client().get(frame_url).status_code == 404  # another session
    assert client.get(state["links"]["frame"].replace("{frame}", "99")).status_code == 404

    deleted = client.delete(created["url"])
    assert deleted.status_code == 200 and deleted.get_json() == {"id": created["id"], "deleted": True}
    assert client.get(created["url"]).status_code == 404
    assert client.delete(created["url"]).status_code == 404
    assert not job_dir.exists()


def test_downloads_are_named_after_the_video_safely(client, video_file):
    """A name that is not ASCII, holds characters some systems refuse or says nothing."""
    from faceinsight.web.videos import download_name

    created = post_video(client, video_file, name="Été: à Paris <1>|2?.avi").get_json()
    state = wait_for_job(client, created["url"])
    assert state["status"] == "done", state
    for link, suffix in (("csv", "csv"), ("json", "json")):
        disposition = client.get(state["links"][link]).headers["Content-Disposition"]
        assert disposition == (f"attachment; filename=\"Ete a Paris 1 2-faces.{suffix}\"; "
                               f"filename*=UTF-8''%C3%89t%C3%A9%20%C3%A0%20Paris%201%202-faces.{suffix}")
    assert download_name("", "0123456789abcdef", "csv") == "faceinsight-video-01234567.csv"
    assert download_name("...", "0123456789abcdef", "csv") == "faceinsight-video-01234567.csv"
    assert download_name("a" * 300 + ".mp4", "0123456789abcdef", "csv") == "a" * 80 + "-faces.csv"


def test_video_limits(app_config, video_file, tmp_path):
    client = create_app({**app_config, "FACEINSIGHT_MAX_VIDEO_MB": 0.001,
                         "FACEINSIGHT_VIDEO_MAX_SECONDS": 1.0}).test_client()
    too_big = post_video(client, video_file)
    assert too_big.status_code == 413 and "limit" in too_big.get_json()["error"]
    client = create_app({**app_config, "FACEINSIGHT_VIDEO_MAX_SECONDS": 1.0}).test_client()
    too_long = post_video(client, video_file)
    assert too_long.status_code == 422 and "1 s" in too_long.get_json()["error"]
    client = create_app({**app_config, "FACEINSIGHT_VIDEO_MAX_FRAMES": 3}).test_client()
    too_many = post_video(client, video_file, sample_fps="2")
    assert too_many.status_code == 422 and "sampling rate" in too_many.get_json()["error"]
    slow = write_video(tmp_path / "slow.avi", frames=6, fps=5.0, side=96)
    above_its_rate = post_video(client, slow, sample_fps="10")  # it is read at 5: name that
    assert above_its_rate.get_json()["error"].startswith("sampling at 5 frames/s would analyse 6 frames")


def test_downloads_before_done_are_409_and_unknown_ids_404(client, video_file, monkeypatch):
    release = threading.Event()
    real = runners.execute_job
    monkeypatch.setattr(runners, "execute_job", lambda *args: (release.wait(60), real(*args)))
    created = post_video(client, video_file).get_json()
    try:
        assert client.get(created["url"] + "/results.csv").status_code == 409
        assert client.get(created["url"] + "/results.json").status_code == 409
    finally:
        release.set()
    assert client.get("/api/v1/videos/" + "0" * 32).status_code == 404
    assert client.get("/api/v1/videos/../../etc").status_code == 404
    assert client.get("/api/v1/videos/nothex").status_code == 404


def test_full_queue_is_429(app_config, video_file, monkeypatch):
    release = threading.Event()
    real = runners.execute_job
    monkeypatch.setattr(runners, "execute_job", lambda *args: (release.wait(60), real(*args)))
    client = create_app({**app_config, "FACEINSIGHT_JOB_QUEUE": 1}).test_client()
    try:
        assert post_video(client, video_file).status_code == 202
        full = post_video(client, video_file)
        assert full.status_code == 429 and full.headers["Retry-After"]
    finally:
        release.set()


def test_delete_cancels_a_running_job(client, video_file, app_config):
    long_video = write_video(video_file.with_name("long.avi"), frames=100)
    created = post_video(client, long_video, sample_fps="10").get_json()
    assert wait_until(lambda: client.get(created["url"]).get_json()["status"] != "queued", 30)
    assert client.delete(created["url"]).status_code == 200
    assert client.get(created["url"]).status_code == 404
    pool = client.application.extensions["faceinsight.jobs"].runner  # it stops between frames
    assert wait_until(lambda: all(f.done() for f in pool._futures.values()), 10), \
        "the cancelled job kept running"
    assert not (app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs" / created["id"]).exists(), "nor cleaned up"


def test_failed_job_reports_why_and_server_carries_on(client, video_file, monkeypatch):
    def broken(*_args, **_kwargs):
        raise VideoError("the video has no frames that can be decoded")

    monkeypatch.setattr(runners, "analyze_video", broken)
    state = wait_for_job(client, post_video(client, video_file).get_json()["url"])
    assert state["status"] == "failed" and "no frames" in state["error"]
    monkeypatch.setattr(runners, "analyze_video", lambda *a, **k: 1 / 0)
    state = wait_for_job(client, post_video(client, video_file).get_json()["url"])
    assert state["status"] == "failed" and state["error"] == "internal error while analysing the video"
    assert client.get("/health").status_code == 200


def test_kept_video_survives_a_restart_and_clear_session_removes_it(app_config, video_file):
    app = create_app(app_config)
    client = app.test_client()
    token = keep_captures(client)
    created = post_video(client, video_file).get_json()
    assert wait_for_job(client, created["url"])["status"] == "done"
    job_dir = app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs" / created["id"]
    assert list(job_dir.glob("video*")), "a kept video stays"

    restarted = create_app(app_config).test_client()  # a new process reading the same folder
    assert restarted.get(created["url"]).status_code == 404  # no cookie, no token: not its job
    state = restarted.get(created["url"], headers={"X-Job-Token": created["token"]}).get_json()
    assert state["status"] == "done" and state["results"]["summary"]["frames_analyzed"] == 4

    cleared = client.post("/session/clear", headers={CSRF_HEADER: token}).get_json()
    assert cleared["videos"] == 1 and not job_dir.exists()


def test_job_sweep_removes_expired_jobs(app, client, video_file):
    created = post_video(client, video_file).get_json()
    wait_for_job(client, created["url"])
    manager = app.extensions["faceinsight.jobs"]
    assert manager.sweep() == 0
    assert manager.sweep(now=time.time() + 2 * 3600) == 1
    assert client.get(created["url"]).status_code == 404


# --- RQ backend against a real redis-server ----------------------------------------------------

@pytest.fixture
def rq_app(app_config, redis_url):
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    return create_app({**app_config, "REDIS_URL": redis_url})


def run_worker(redis_url: str, queue: str = "faceinsight") -> None:
    """Process every queued job in this process (our in-process RQ worker in burst mode)."""
    import redis
    from rq import Queue

    from faceinsight.jobs.worker import InProcessJobWorker

    connection = redis.Redis.from_url(redis_url)
    InProcessJobWorker([Queue(queue, connection=connection)], connection=connection).work(burst=True)


def test_rq_job_runs_in_a_worker(rq_app, redis_url, video_file, app_config):
    client = rq_app.test_client()
    assert client.get("/ready").get_json()["jobs"] == "rq"
    created = post_video(client, video_file, sample_fps="2").get_json()
    assert client.get(created["url"]).get_json()["status"] == "queued"
    run_worker(redis_url)
    state = client.get(created["url"]).get_json()
    assert state["status"] == "done" and state["progress"] == 100
    assert state["results"]["summary"]["frames_analyzed"] == 4
    assert client.get(state["links"]["csv"]).status_code == 200
    assert client.get(state["links"]["frame"].replace("{frame}", "1")).mimetype == "image/jpeg"
    # Another web process (stateless tier) sees the same job through Redis.
    other = create_app({**app_config, "REDIS_URL": redis_url}).test_client()
    assert other.get(created["url"], headers={"X-Job-Token": created["token"]}).get_json()["status"] == "done"
    assert other.get(created["url"]).status_code == 404
    assert client.delete(created["url"]).status_code == 200
    assert client.get(created["url"]).status_code == 404
    assert not (app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs" / created["id"]).exists()


def test_rq_cancel_before_the_worker_starts(rq_app, redis_url, video_file):
    client = rq_app.test_client()
    created = post_video(client, video_file).get_json()
    assert client.delete(created["url"]).status_code == 200
    run_worker(redis_url)  # the cancelled job must not come back
    assert client.get(created["url"]).status_code == 404


def test_rq_video_without_faces_and_clear_session(rq_app, redis_url, tmp_path):
    client = rq_app.test_client()
    token = page_csrf(client)
    blank = write_video(tmp_path / "blank.avi", blank=True)
    created = post_video(client, blank).get_json()
    run_worker(redis_url)
    state = client.get(created["url"]).get_json()
    assert state["status"] == "done" and state["results"]["summary"]["tracks"] == 0
    cleared = client.post("/session/clear", headers={CSRF_HEADER: token}).get_json()
    assert cleared["videos"] == 1
    assert client.get(created["url"]).status_code == 404


def test_unreachable_redis_is_503_not_500(app_config, video_file):
    port = free_port()  # nothing listens there
    client = create_app({**app_config, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}).test_client()
    ready = client.get("/ready")
    assert ready.status_code == 503 and "Redis" in ready.get_json()["error"]
    response = post_video(client, video_file)
    assert response.status_code == 503 and "Redis" in response.get_json()["error"]
    assert not list((app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs").iterdir())
    # Job state lives in the shared upload folder, not in Redis: reading needs no queue.
    assert client.get("/api/v1/videos/" + "a" * 32).status_code == 404


def test_client_gone_mid_upload_leaves_nothing(app, app_config, video_file):
    import socket

    from werkzeug.serving import make_server

    handled = threading.Event()  # the server has ended the request (and its cleanup)
    real_wsgi_app = app.wsgi_app

    def wsgi_app(environ, start_response):
        try:
            return real_wsgi_app(environ, start_response)
        finally:
            handled.set()

    app.wsgi_app = wsgi_app
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        boundary = "fi-boundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.avi\"\r\n"
                "Content-Type: video/x-msvideo\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", server.server_port)) as sock:
            sock.sendall((f"POST /api/v1/videos HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                          f"Content-Length: {len(head) + 5_000_000}\r\n\r\n").encode())
            sock.sendall(head + video_file.read_bytes()[:20_000])  # then hang up
        assert handled.wait(60), "the server never ended the request"
        jobs_dir = app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs"
        assert not jobs_dir.exists() or not list(jobs_dir.iterdir())
        assert not list(app_config["FACEINSIGHT_UPLOAD_DIR"].glob(".incoming/*")), "the part as it arrived"
        assert app.test_client().get("/health").status_code == 200
    finally:
        server.shutdown()


def test_short_video_warning_only_when_far_fewer_frames_than_promised():
    from faceinsight.jobs.runners import short_video_warning

    assert short_video_warning(100, 100) is None and short_video_warning(98, 100) is None
    assert short_video_warning(9, 10) is None  # container durations are approximate
    assert short_video_warning(37, 100).startswith("the video ended after 37 of the 100 frames expected")
    assert short_video_warning(0, 0) is None


def test_a_video_cut_short_is_done_with_a_warning(client, tmp_path):
    """The decoder stops quietly where a file is cut: the job says so instead of a bare "done"."""
    whole = write_video(tmp_path / "whole.avi", frames=40).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole[:len(whole) // 2])
    state = wait_for_job(client, post_video(client, cut, sample_fps="10").get_json()["url"])
    assert state["status"] == "done"
    assert 0 < state["frames_analyzed"] < state["frames_expected"] * 0.9
    assert state["warning"].startswith(f"the video ended after {state['frames_analyzed']} of the")
    created = post_video(client, tmp_path / "whole.avi", sample_fps="10").get_json()
    whole_state = wait_for_job(client, created["url"])
    assert whole_state["status"] == "done" and whole_state["warning"] is None


def test_a_job_says_the_rate_it_reads_at(client, tmp_path) -> None:
    """A 5 frames/s video sampled at 10 said sample_fps 10 beside results.sample_fps 5."""
    slow = write_video(tmp_path / "slow.avi", frames=6, fps=5.0, side=96)
    state = wait_for_job(client, post_video(client, slow, sample_fps="10").get_json()["url"])
    assert state["status"] == "done"
    assert state["sample_fps"] == state["results"]["sample_fps"] == 5.0
    assert state["frames_analyzed"] == state["frames_expected"] == 6
