"""Video jobs survive the process that ran them: a queued or running job whose process (or RQ
job) is gone is queued again when its upload is still there, and finishes; otherwise it is
failed at once with a reason and its upload deleted. A failed or cancelled job never shows its
final state while its upload is still on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from webhelpers import accepted_video, keep_captures, wait_until

from faceinsight.jobs import runners
from faceinsight.jobs import store as store_module
from faceinsight.jobs.liveness import process_start, thread_runner_identity
from faceinsight.jobs.manager import MAX_ATTEMPTS, RESTARTED_NOTE, RQ_GRACE_S, UPLOAD_GONE_REASON, JobManager
from faceinsight.jobs.store import FINISHED, JobState
from faceinsight.video.analysis import VideoCancelled
from faceinsight.video.decoder import VideoError
from faceinsight.web import create_app

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_app(make_app):
    """Apps made as conftest's ``make_app`` makes them, returned once their start-up recovery
    (a thread) has ended: run late, it would take over a job the test rewrites afterwards as
    left by an ended process, before the test's own recovery (which then found nothing)."""
    def make(**overrides):
        app = make_app(**overrides)
        for thread in threading.enumerate():
            if thread.name == "job-recovery":
                thread.join(60)
        return app

    return make


def finished_state(manager: JobManager, job_id: str, timeout: float = 60.0) -> JobState:
    """The job's state once it has finished (read as a client's status check reads it)."""
    assert wait_until(lambda: getattr(manager.get(job_id), "status", None) in FINISHED, timeout), \
        manager.get(job_id)
    return manager.get(job_id)


def uploads(manager: JobManager, job_id: str) -> list[Path]:
    return list(manager.store.folder(job_id).glob("video*"))


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def leave_as_ended_process(manager: JobManager, job_id: str, pid: int, **fields) -> None:
    """Rewrite a job's state as a process that ended mid-job leaves it: its runner is ``pid``."""
    runner = thread_runner_identity("gone").model_copy(update={"pid": pid, "started": "1"})
    manager.store.create(manager.store.load(job_id).revised(runner=runner, **fields))


def test_queued_and_running_jobs_of_an_ended_process_are_queued_again_and_finish(
        make_app, video_file, monkeypatch, dead_pid):
    monkeypatch.setattr(runners, "execute_job", lambda *_args: None)  # accepted, never run
    first = make_app()
    client = first.test_client()
    queued, running = accepted_video(client, video_file), accepted_video(client, video_file)
    old = first.extensions["faceinsight.jobs"]
    leave_as_ended_process(old, queued["id"], dead_pid)
    leave_as_ended_process(old, running["id"], dead_pid, status="running", progress=40,
                           frames_analyzed=2, started=time.time())
    monkeypatch.undo()  # the new server runs jobs

    manager = make_app().extensions["faceinsight.jobs"]  # start-up finds them
    for created in (queued, running):
        state = finished_state(manager, created["id"])
        assert state.status == "done", state
        assert state.note == RESTARTED_NOTE and state.attempts == 2
        assert manager.results(created["id"])["summary"]["frames_analyzed"] == 4
        assert not uploads(manager, created["id"])
        left = {path.name for path in manager.store.folder(created["id"]).iterdir()}
        assert left == {"state.json", "results.json", "frames"}, "what only a running job needs stays"
    # The page is told what happened.
    shown = client.get(running["url"]).get_json()
    assert shown["status"] == "done" and shown["note"] == RESTARTED_NOTE


def test_a_job_whose_upload_is_gone_fails_at_once_with_a_reason(make_app, video_file, monkeypatch, dead_pid):
    monkeypatch.setattr(runners, "execute_job", lambda *_args: None)
    client = make_app().test_client()
    created = accepted_video(client, video_file)
    manager = client.application.extensions["faceinsight.jobs"]
    leave_as_ended_process(manager, created["id"], dead_pid, status="running")
    for path in uploads(manager, created["id"]):
        path.unlink()

    state = client.get(created["url"]).get_json()  # the page's next status check
    assert state["status"] == "failed" and state["error"] == UPLOAD_GONE_REASON
    assert state["note"] == RESTARTED_NOTE
    assert manager.store.load(created["id"]).status == "failed", "recorded, not only shown"


def test_a_job_that_ended_its_process_too_often_fails_and_frees_its_upload(
        make_app, video_file, monkeypatch, dead_pid):
    monkeypatch.setattr(runners, "execute_job", lambda *_args: None)
    client = make_app().test_client()
    created = accepted_video(client, video_file)
    manager = client.application.extensions["faceinsight.jobs"]
    leave_as_ended_process(manager, created["id"], dead_pid, status="running", attempts=MAX_ATTEMPTS)
    assert uploads(manager, created["id"])
    assert manager.recover() == 1
    state = manager.store.load(created["id"])
    assert state.status == "failed" and f"{MAX_ATTEMPTS} times" in state.error
    assert not uploads(manager, created["id"])
    assert client.get(created["url"]).get_json()["status"] == "failed"


def test_a_job_of_a_live_process_is_left_alone(make_app, video_file, monkeypatch):
    monkeypatch.setattr(runners, "execute_job", lambda *_args: None)
    client = make_app().test_client()
    created = accepted_video(client, video_file)
    manager = client.application.extensions["faceinsight.jobs"]
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runner = thread_runner_identity("theirs").model_copy(
            update={"pid": other.pid, "started": process_start(other.pid)})
        manager.store.create(manager.store.load(created["id"]).revised(runner=runner))
        assert make_app().extensions["faceinsight.jobs"].recover() == 0
        assert manager.store.load(created["id"]).status == "queued" and uploads(manager, created["id"])
    finally:
        other.kill()
        other.wait()
    # Once it has ended, its job is taken over.
    assert manager.recover() == 1
    assert manager.store.load(created["id"]).note == RESTARTED_NOTE


def test_only_one_process_takes_over_a_job(make_app, video_file, monkeypatch, dead_pid):
    taken: list[str] = []
    monkeypatch.setattr(runners, "execute_job", lambda job_id, *_args: taken.append(job_id))
    client = make_app().test_client()
    created = accepted_video(client, video_file)
    taken.clear()
    manager = client.application.extensions["faceinsight.jobs"]
    leave_as_ended_process(manager, created["id"], dead_pid)
    managers = [make_app().extensions["faceinsight.jobs"] for _ in range(3)]  # each recovers
    for other in managers:  # what it queued has run
        for future in list(other.runner._futures.values()):
            future.result(60)
    assert sum(m.recover() for m in managers) == 0
    assert taken == [created["id"]], "the job ran more than once"


# --- a real process killed with SIGKILL ---------------------------------------------------------

CHILD = textwrap.dedent("""
    import io, sys, time
    from faceinsight.jobs import runners
    from faceinsight.web import create_app

    runners.execute_job = lambda *args: time.sleep(600)  # running when it is killed
    config = {"TESTING": True, "FACEINSIGHT_UPLOAD_DIR": sys.argv[1], "FACEINSIGHT_INSTANCE_DIR": sys.argv[2],
              "FACEINSIGHT_SWEEP_MINUTES": 0, "REDIS_URL": None, "FACEINSIGHT_CHECK_MODELS": False,
              "FACEINSIGHT_JOB_WORKERS": 1}
    client = create_app(config).test_client()
    video = open(sys.argv[3], "rb").read()
    for _ in range(3):
        answer = client.post("/api/v1/videos", data={"file": (io.BytesIO(video), "clip.avi")},
                             content_type="multipart/form-data")
        print(answer.get_json()["id"], flush=True)
    print("ready", flush=True)
    time.sleep(600)
""")


def test_jobs_of_a_killed_server_process_finish_after_a_restart(make_app, app_config, video_file):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(app_config["FACEINSIGHT_UPLOAD_DIR"]),
         str(app_config["FACEINSIGHT_INSTANCE_DIR"]), str(video_file)],
        stdout=subprocess.PIPE, text=True, cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)})
    try:
        lines = [child.stdout.readline().strip() for _ in range(4)]
        assert lines[-1] == "ready", lines
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
    job_ids = lines[:3]

    manager = make_app().extensions["faceinsight.jobs"]
    for job_id in job_ids:
        state = finished_state(manager, job_id, timeout=120)
        assert state.status == "done" and state.note == RESTARTED_NOTE, state
        assert not uploads(manager, job_id)


# --- the final state is never written before the upload is gone --------------------------------

@pytest.fixture
def final_states_seen_with_uploads(monkeypatch) -> list[tuple[str, list[str]]]:
    """Every failed or cancelled state written while the job's upload was still on disk."""
    seen: list[tuple[str, list[str]]] = []
    real = store_module._write_json

    def write(path: Path, value) -> None:
        if path.name == "state.json" and value.get("status") in ("failed", "cancelled"):
            left = [p.name for p in path.parent.glob("video*")]
            if left and not value.get("keep"):
                seen.append((value["status"], left))
        real(path, value)

    monkeypatch.setattr(store_module, "_write_json", write)
    return seen


def test_a_failed_job_has_no_upload_when_its_state_says_failed(
        client, video_file, monkeypatch, final_states_seen_with_uploads):
    def broken(*_args, **_kwargs):
        raise VideoError("the video has no frames that can be decoded")

    monkeypatch.setattr(runners, "analyze_video", broken)
    created = accepted_video(client, video_file)
    manager = client.application.extensions["faceinsight.jobs"]
    assert finished_state(manager, created["id"]).status == "failed"
    monkeypatch.setattr(runners, "analyze_video", lambda *a, **k: 1 / 0)
    created = accepted_video(client, video_file)
    assert finished_state(manager, created["id"]).status == "failed"
    assert final_states_seen_with_uploads == []


def test_a_cancelled_job_has_no_upload_when_its_state_says_cancelled(
        client, video_file, monkeypatch, final_states_seen_with_uploads):
    real = runners.execute_job

    def cancelled_first(job_id, spec, store):
        store.request_cancel(job_id)
        real(job_id, spec, store)

    monkeypatch.setattr(runners, "execute_job", cancelled_first)
    created = accepted_video(client, video_file)
    manager = client.application.extensions["faceinsight.jobs"]
    assert finished_state(manager, created["id"]).status == "cancelled"

    def cancelled_while_running(video_path, *_args, should_stop, **_kwargs):
        (Path(video_path).parent / "cancel").touch()  # as Cancel does, while frames are read
        assert should_stop()
        raise VideoCancelled()

    monkeypatch.setattr(runners, "execute_job", real)
    monkeypatch.setattr(runners, "analyze_video", cancelled_while_running)
    created = accepted_video(client, video_file)
    assert finished_state(manager, created["id"]).status == "cancelled"
    assert not uploads(manager, created["id"])
    assert final_states_seen_with_uploads == []


def test_a_kept_job_that_fails_keeps_its_video(client, video_file, monkeypatch):
    keep_captures(client)
    monkeypatch.setattr(runners, "analyze_video", lambda *a, **k: 1 / 0)
    created = accepted_video(client, video_file)
    manager = client.application.extensions["faceinsight.jobs"]
    assert finished_state(manager, created["id"]).status == "failed"
    assert uploads(manager, created["id"]), "the user asked to keep it"


# --- RQ: Redis restarted without persistence ---------------------------------------------------

def test_rq_jobs_lost_with_redis_are_queued_again(app_config, redis_url, video_file):
    import redis
    from rq import Queue

    from faceinsight.jobs.worker import InProcessJobWorker

    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    app = create_app({**app_config, "REDIS_URL": redis_url})
    client = app.test_client()
    created = accepted_video(client, video_file)
    manager = app.extensions["faceinsight.jobs"]
    connection.flushdb()  # what a restarted Redis without persistence holds
    assert manager.get(created["id"]).status == "queued", "judged only after the grace period"

    state = manager.store.load(created["id"])
    manager.store.create(state.revised(updated=time.time() - RQ_GRACE_S - 1))
    state = client.get(created["url"]).get_json()
    assert state["status"] == "queued" and state["note"] == RESTARTED_NOTE
    queue = Queue("faceinsight", connection=connection)
    assert queue.count == 1
    InProcessJobWorker([queue], connection=connection).work(burst=True)
    assert client.get(created["url"]).get_json()["status"] == "done"
