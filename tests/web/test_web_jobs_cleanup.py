"""Video jobs are cleaned up without help: a job whose worker died is recorded as failed and its
upload removed, and expired jobs and kept captures are swept by a timer even when no request
arrives."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path

import pytest
from webhelpers import accepted_video, job_state, keep_captures, upload, wait_until

from faceinsight.jobs import runners
from faceinsight.jobs import store as store_module
from faceinsight.jobs.access import new_job_id
from faceinsight.jobs.manager import JobManager
from faceinsight.jobs.store import STALE_RUNNING_S, TRASH_PREFIX, JobStore
from faceinsight.web import create_app

TINY_MINUTES = 0.002  # 0.12 s: the timer's interval and the job lifetime in the timer tests
SWEPT_WITHIN_S = 60  # the most the timer tests wait for a sweep or a thread (a busy machine is late)


@pytest.fixture
def idle_worker(monkeypatch) -> None:
    """Jobs are accepted but never run: their state is then written by the test."""
    monkeypatch.setattr(runners, "execute_job", lambda *_args: None)


def make_running(manager: JobManager, job_id: str, silent_s: float) -> None:
    """Write the job's state as a worker does while analysing, last heard ``silent_s`` ago."""
    now = time.time()
    manager.store.create(manager.store.load(job_id).revised(
        status="running", started=now - silent_s - 1, updated=now - silent_s, progress=40))
    (manager.store.folder(job_id) / "frames").mkdir(exist_ok=True)
    (manager.store.folder(job_id) / "frames" / "0.jpg").write_bytes(b"\xff\xd8 a frame")


def uploads(manager: JobManager, job_id: str) -> list[Path]:
    return list(manager.store.folder(job_id).glob("video*"))


# --- a job whose worker died (defect A) ---------------------------------------------------------

@pytest.mark.usefixtures("idle_worker")
def test_a_job_whose_worker_died_is_recorded_failed_and_its_upload_removed(app, client, video_file):
    manager = app.extensions["faceinsight.jobs"]
    created = accepted_video(client, video_file)
    job_id = created["id"]
    make_running(manager, job_id, silent_s=STALE_RUNNING_S + 5)
    assert uploads(manager, job_id)

    state = client.get(created["url"]).get_json()
    assert state["status"] == "failed"
    # Neutral: a worker that died is not a server restart.
    assert "stopped unexpectedly" in state["error"] and "restart" not in state["error"]
    stored = manager.store.load(job_id)  # recorded, not only shown
    assert stored.status == "failed" and stored.error == state["error"]
    assert time.time() - stored.updated < 60, "the job's lifetime counts from the failure"
    assert not uploads(manager, job_id), "the upload outlived the job"
    # As for any failed job, what it produced stays until it expires.
    assert (manager.store.folder(job_id) / "frames" / "0.jpg").is_file()
    assert client.get(created["url"]).get_json()["status"] == "failed"


@pytest.mark.usefixtures("idle_worker")
def test_a_running_job_that_reported_recently_is_left_alone(app, client, video_file):
    manager = app.extensions["faceinsight.jobs"]
    created = accepted_video(client, video_file)
    make_running(manager, created["id"], silent_s=STALE_RUNNING_S - 5)
    assert client.get(created["url"]).get_json()["status"] == "running"
    assert manager.sweep() == 0
    assert manager.store.load(created["id"]).status == "running" and uploads(manager, created["id"])


@pytest.mark.usefixtures("idle_worker")
def test_a_kept_job_whose_worker_died_keeps_its_video(app, client, video_file):
    keep_captures(client)
    manager = app.extensions["faceinsight.jobs"]
    created = accepted_video(client, video_file)
    make_running(manager, created["id"], silent_s=STALE_RUNNING_S + 5)
    assert client.get(created["url"]).get_json()["status"] == "failed"
    assert uploads(manager, created["id"]), "the user asked to keep it"


@pytest.mark.usefixtures("idle_worker")
def test_the_sweep_records_a_dead_job_without_anyone_reading_it(app, client, video_file):
    manager = app.extensions["faceinsight.jobs"]
    created = accepted_video(client, video_file)
    make_running(manager, created["id"], silent_s=STALE_RUNNING_S + 5)
    assert manager.sweep() == 0  # failed now, but not yet expired
    assert manager.store.load(created["id"]).status == "failed"
    assert not uploads(manager, created["id"])


def test_a_stopped_job_whose_state_cannot_be_written_still_reads_failed(app, monkeypatch):
    manager = app.extensions["faceinsight.jobs"]
    job_id = new_job_id()
    manager.store.folder(job_id).mkdir(parents=True)
    manager.store.create(job_state(job_id, status="running", updated=time.time() - STALE_RUNNING_S - 5))
    (manager.store.folder(job_id) / "video.avi").write_bytes(b"RIFF")

    def full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "_write_json", full)
    state = manager.get(job_id)
    assert state.status == "failed" and "stopped unexpectedly" in state.error
    assert not uploads(manager, job_id), "removing the upload frees the disk"


# --- the timed sweep (defect B) -----------------------------------------------------------------


def add_job(manager: JobManager, status: str = "done", silent_s: float = 0.0) -> str:
    """A job folder as an upload leaves it (state, a frame, the video), written directly."""
    job_id, folder = manager.new_job()
    now = time.time()
    manager.store.create(job_state(job_id, owner="someone", status=status, created=now - silent_s,
                                   updated=now - silent_s, ttl_s=manager.job_ttl_s))
    (folder / "video.avi").write_bytes(b"RIFF")
    return job_id


def test_expired_jobs_are_swept_with_no_request(make_app):
    app = make_app(FACEINSIGHT_JOB_TTL_MINUTES=TINY_MINUTES, FACEINSIGHT_SWEEP_MINUTES=TINY_MINUTES)
    manager = app.extensions["faceinsight.jobs"]
    job_dir = manager.store.folder(add_job(manager))
    assert wait_until(lambda: not job_dir.exists(), SWEPT_WITHIN_S), "an idle server kept an expired job"


def test_a_dead_job_loses_its_upload_with_no_request(make_app):
    app = make_app(FACEINSIGHT_SWEEP_MINUTES=TINY_MINUTES)  # the job lifetime stays an hour
    manager = app.extensions["faceinsight.jobs"]
    job_id = add_job(manager, status="running", silent_s=STALE_RUNNING_S + 5)
    assert wait_until(lambda: not uploads(manager, job_id), SWEPT_WITHIN_S)
    assert manager.store.load(job_id).status == "failed"


def test_no_sweeper_thread_when_the_sweep_is_off(make_app):
    assert make_app(FACEINSIGHT_SWEEP_MINUTES=0).extensions["faceinsight.sweeper"].timer is None


def test_the_sweeper_thread_ends_with_its_app(make_app, app_config):
    sweeper = make_app(FACEINSIGHT_SWEEP_MINUTES=TINY_MINUTES).extensions["faceinsight.sweeper"]
    thread = sweeper.timer
    assert thread is not None and thread.daemon and thread.is_alive()
    sweeper.stop()
    thread.join(SWEPT_WITHIN_S)
    assert not thread.is_alive()

    # An app dropped without stop() does not keep its thread (or itself) alive.
    dropped = create_app({**app_config, "FACEINSIGHT_SWEEP_MINUTES": TINY_MINUTES})
    thread = dropped.extensions["faceinsight.sweeper"].timer
    del dropped
    gc.collect()
    thread.join(SWEPT_WITHIN_S)
    assert not thread.is_alive()


def test_a_failing_sweep_is_logged_and_the_thread_carries_on(make_app, caplog):
    app = make_app(FACEINSIGHT_SWEEP_MINUTES=TINY_MINUTES)
    manager = app.extensions["faceinsight.jobs"]
    calls: list[int] = []

    def sweep() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        return 0

    manager.sweep = sweep
    assert wait_until(lambda: len(calls) >= 2, SWEPT_WITHIN_S), "the sweeper died with the first error"
    assert app.extensions["faceinsight.sweeper"].timer.is_alive()
    assert "video job sweep failed" in caplog.text


def test_sweeps_never_overlap(app, monkeypatch):
    manager = app.extensions["faceinsight.jobs"]
    entered, release = threading.Event(), threading.Event()
    real_ids = manager.store.ids

    def slow_ids() -> list[str]:
        entered.set()
        release.wait(60)
        return real_ids()

    monkeypatch.setattr(manager.store, "ids", slow_ids)
    first = threading.Thread(target=manager.sweep)
    first.start()
    try:
        assert entered.wait(60)
        entered.clear()
        assert manager.sweep() == 0 and not entered.is_set(), "a second sweep ran alongside"
    finally:
        release.set()
        first.join(60)


def test_kept_captures_past_their_retention_are_swept_with_no_request(make_app, astronaut_jpeg):
    """Kept photos are swept by the same timer (before, only when a request came)."""
    app = make_app(FACEINSIGHT_RETENTION_HOURS=TINY_MINUTES / 60, FACEINSIGHT_SWEEP_MINUTES=TINY_MINUTES)
    client = app.test_client()
    keep_captures(client)
    assert upload(client, astronaut_jpeg, "kept.jpg").get_json()["stored"]
    root = app.config["FACEINSIGHT_UPLOAD_DIR"] / "captures"
    assert list(root.rglob("*.img"))
    assert wait_until(lambda: not list(root.rglob("*.img")), SWEPT_WITHIN_S), \
        "an idle server kept an expired capture"


def test_a_write_racing_a_delete_leaves_nothing_behind(tmp_path, monkeypatch):
    """A worker's last write (its state, a frame) landing while its job is deleted: the job's
    path is gone at once, its late writes fail, and no folder, state or frame survives."""
    store = JobStore(tmp_path / "jobs")
    job_id = new_job_id()
    store.folder(job_id).mkdir(parents=True)
    store.create(job_state(job_id, status="running", owner="someone"))
    real_rmtree = store_module.shutil.rmtree
    landed = []

    def rmtree_racing_a_frame(path, ignore_errors=False):
        if not landed:  # the worker writes a frame into the folder as it is being removed
            (Path(path) / "frames").mkdir(exist_ok=True)
            (Path(path) / "frames" / "74.jpg").write_bytes(b"a frame of the user's video")
            landed.append(path)
            return None  # this pass missed it, as rmtree does when a file comes after its listing
        return real_rmtree(path, ignore_errors=ignore_errors)

    monkeypatch.setattr(store_module.shutil, "rmtree", rmtree_racing_a_frame)
    store.remove(job_id)
    assert landed and not list((tmp_path / "jobs").iterdir())
    assert store.update(job_id, status="cancelled") is False  # a later write finds no job
    assert store.load(job_id) is None and not store.folder(job_id).exists()


def test_the_sweep_clears_what_an_interrupted_removal_left(app):
    manager = app.extensions["faceinsight.jobs"]
    left = manager.store.root / f"{TRASH_PREFIX}{new_job_id()}-0000"
    (left / "frames").mkdir(parents=True)
    (left / "frames" / "3.jpg").write_bytes(b"frame")
    manager.sweep()
    assert not left.exists()
