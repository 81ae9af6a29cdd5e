"""Faults: broken model files at start-up, a full or read-only upload folder, a video job that
fails. Each gives a clear message, and what does not depend on the broken part goes on working.

(Client disconnects and a server restart are in test_web_live.py, against a real gunicorn.)
"""

from __future__ import annotations

import errno
import io
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from hostile_inputs import file_part, jpeg, send, small_video
from live_server import start_gunicorn, stop_gunicorn
from webhelpers import keep_captures, wait_for_job

from faceinsight.jobs import runners
from faceinsight.jobs.manager import JobManager
from faceinsight.litert import ModelError
from faceinsight.models import read_manifest, verify_model_files
from faceinsight.web import create_app


def damage(models: Path, how: str) -> str:
    """Break one model chunk in a private copy of the models; returns the chunk's file name."""
    chunk = read_manifest(models)["models"]["emotion"]["chunks"][1]["file"]
    path = models / chunk
    if how == "missing":
        path.unlink()
    else:
        data = bytearray(path.read_bytes())
        data[100] ^= 0xFF
        path.write_bytes(bytes(data))
    return chunk


@pytest.fixture(params=["missing", "corrupt"])
def broken_models(request, models_copy: Path, fresh_models: None, monkeypatch) -> str:
    """``FACEINSIGHT_MODELS`` points at a copy with one chunk missing or corrupt; its name."""
    chunk = damage(models_copy, request.param)
    monkeypatch.setenv("FACEINSIGHT_MODELS", str(models_copy))
    return chunk


# --- model files -------------------------------------------------------------------------------


def test_broken_model_stops_start_up_naming_the_file(broken_models: str, app_config: dict, caplog) -> None:
    with pytest.raises(ModelError, match=broken_models.replace(".", r"\.")):
        create_app(app_config)
    assert any("cannot start" in r.getMessage() and broken_models in r.getMessage() for r in caplog.records)


def test_lazy_start_reports_not_ready_naming_the_file(broken_models: str, app_config: dict) -> None:
    client = create_app({**app_config, "FACEINSIGHT_CHECK_MODELS": False}).test_client()
    assert client.get("/health").status_code == 200  # alive...
    ready = client.get("/ready")  # ...but not ready, and says why
    assert ready.status_code == 503 and ready.headers["Retry-After"]
    assert broken_models in ready.get_json()["error"]
    analysis = send(client, "/api/v1/analyze", file_part(jpeg(), "a.jpg"))
    assert analysis.status_code == 503 and broken_models in analysis.get_json()["error"]


def run_gunicorn_briefly(folder: Path, extra_env: dict[str, str], timeout: float = 90) -> tuple[int, str]:
    """Start gunicorn on broken models; returns its exit status and output (it must stop)."""
    process, _ = start_gunicorn(1, 1, folder, extra_env=extra_env, output=subprocess.PIPE)
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        stop_gunicorn(process)
    return process.returncode, output.decode(errors="replace")


def test_gunicorn_stops_at_start_up_naming_the_file(broken_models: str, tmp_path: Path) -> None:
    status, output = run_gunicorn_briefly(tmp_path, {"FACEINSIGHT_MODELS": os.environ["FACEINSIGHT_MODELS"]})
    assert status != 0
    assert broken_models in output and "Error:" in output, output[-2000:]
    assert "Booting worker" not in output  # refused before any worker started


def test_gunicorn_lazy_mode_serves_503_on_ready(broken_models: str, tmp_path: Path) -> None:
    env = {"FACEINSIGHT_MODELS": os.environ["FACEINSIGHT_MODELS"], "FACEINSIGHT_CHECK_MODELS": "0"}
    process, url = start_gunicorn(1, 1, tmp_path, extra_env=env, output=subprocess.DEVNULL)
    try:
        health = wait_for_health(url, process)
        assert health.status_code == 200
        ready = requests.get(f"{url}/ready", timeout=30)
        assert ready.status_code == 503 and broken_models in ready.json()["error"]
    finally:
        stop_gunicorn(process)


def wait_for_health(url: str, process: subprocess.Popen, timeout: float = 90) -> requests.Response:
    """Poll /health until the server answers (or fail if it exits)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            return requests.get(f"{url}/health", timeout=5)
        except requests.ConnectionError:
            time.sleep(0.3)
    raise AssertionError("gunicorn did not answer /health")


# --- a full or read-only upload folder ------------------------------------------------------


def os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_unwritable_uploads_keep_analysis_working(client, app_config, monkeypatch, code: int) -> None:
    keep_captures(client)

    def fail(*_args, **_kwargs):
        raise os_error(code)

    monkeypatch.setattr("faceinsight.web.captures.write_private", fail)
    response = send(client, "/api/v1/analyze", file_part(jpeg(), "a.jpg"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["faces"] and "stored" not in body
    assert body["storage_error"] == f"the capture could not be kept: {os.strerror(code)}"
    assert not [p for p in app_config["FACEINSIGHT_UPLOAD_DIR"].rglob("*") if p.is_file()]


def test_disk_full_half_way_leaves_no_half_capture(client, app_config, monkeypatch) -> None:
    from faceinsight.files import write_private

    keep_captures(client)

    def image_then_full(path: Path, data: bytes) -> None:
        if path.suffix == ".json":
            raise os_error(errno.ENOSPC)
        write_private(path, data)

    monkeypatch.setattr("faceinsight.web.captures.write_private", image_then_full)
    body = send(client, "/api/v1/analyze", file_part(jpeg(), "a.jpg")).get_json()
    assert "No space left" in body["storage_error"]
    assert not [p for p in app_config["FACEINSIGHT_UPLOAD_DIR"].rglob("*") if p.is_file()]
    assert client.get("/session/captures").get_json()["captures"] == []


def test_write_private_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    from faceinsight.files import write_private

    def full(*_args, **_kwargs):
        raise os_error(errno.ENOSPC)

    monkeypatch.setattr(Path, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        write_private(tmp_path / "x.json", b"{}")
    assert list(tmp_path.iterdir()) == []


def as_ordinary_user(action: Callable[[], None]) -> None:
    """Run ``action`` as a user that folder permissions bind: as it is when the tests are not
    root; as root (CI), in a forked child that has become 'nobody' (root writes into read-only
    folders anyway). The child's failure, traceback included, fails the test."""
    if os.geteuid() != 0:
        action()
        return
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_end)
            signal.alarm(60)  # a child that hangs dies, and the test fails
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            action()
        except BaseException:
            os.write(write_end, traceback.format_exc().encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"as 'nobody':\n{report}"


def test_really_read_only_upload_folder(app_config) -> None:
    # A folder that 'nobody' can reach (pytest's tmp_path is private to root) and own.
    folder = Path(tempfile.mkdtemp(prefix="faceinsight-readonly-"))
    folder.chmod(0o755)
    uploads = folder / "uploads"
    uploads.mkdir()
    app = create_app({**app_config, "FACEINSIGHT_UPLOAD_DIR": uploads})
    try:
        client = app.test_client()
        keep_captures(client)
        photo, video = file_part(jpeg(), "a.jpg"), file_part(b"RIFF....AVI ", "v.avi")
        # Models and lazy imports loaded here ('nobody' cannot read root's Python), nothing kept.
        warm = client.post("/api/v1/analyze", data={"file": (io.BytesIO(jpeg()), "a.jpg"), "store": "false"})
        assert warm.status_code == 200 and not any(uploads.iterdir())
        if os.geteuid() == 0:
            os.chown(uploads, pwd.getpwnam("nobody").pw_uid, -1)
        uploads.chmod(0o500)

        def refused() -> None:
            body = send(client, "/api/v1/analyze", photo).get_json()
            assert body["faces"] and "Permission denied" in body["storage_error"]
            assert send(client, "/api/v1/videos", video).status_code == 503

        as_ordinary_user(refused)
    finally:
        app.extensions["faceinsight.jobs"].shutdown()
        uploads.chmod(0o700)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_unwritable_uploads_refuse_videos_clearly(client, monkeypatch, tmp_path: Path, code: int) -> None:
    def fail(_self):
        raise os_error(code)

    monkeypatch.setattr(JobManager, "new_job", fail)
    response = send(client, "/api/v1/videos", file_part(small_video(tmp_path), "v.avi"))
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "cannot store the video" in response.get_json()["error"]
    assert send(client, "/api/v1/analyze", file_part(jpeg(), "a.jpg")).status_code == 200


def test_disk_full_during_a_job_fails_it_with_the_reason(client, monkeypatch, tmp_path: Path) -> None:
    def full(*_args, **_kwargs):
        raise os_error(errno.ENOSPC)

    monkeypatch.setattr(runners, "_save_frame", full)
    created = send(client, "/api/v1/videos", file_part(small_video(tmp_path), "v.avi")).get_json()
    state = wait_for_job(client, created["url"])
    assert state["status"] == "failed" and "No space left on device" in state["error"]
    assert client.get("/health").status_code == 200
    assert send(client, "/api/v1/analyze", file_part(jpeg(), "a.jpg")).status_code == 200


def test_a_job_whose_state_cannot_be_written_does_not_kill_the_worker(app, client, monkeypatch,
                                                                       tmp_path: Path) -> None:
    store = app.extensions["faceinsight.jobs"].store
    real_update = store.update

    def update(job_id: str, **fields):
        if fields.get("status") in ("running", "failed"):
            raise os_error(errno.ENOSPC)
        return real_update(job_id, **fields)

    monkeypatch.setattr(store, "update", update)
    created = send(client, "/api/v1/videos", file_part(small_video(tmp_path), "v.avi")).get_json()
    pool = app.extensions["faceinsight.jobs"].runner
    pool._futures[created["id"]].result(timeout=60)  # execute_job returned: it did not raise
    monkeypatch.setattr(store, "update", real_update)
    second = send(client, "/api/v1/videos", file_part(small_video(tmp_path), "w.avi")).get_json()
    assert wait_for_job(client, second["url"])["status"] == "done"  # the pool carries on


@pytest.mark.parametrize("detector", ["haar", "blazeface"])
def test_a_model_without_a_geometry_for_the_detector_stops_start_up(
        detector: str, models_copy: Path, fresh_models: None, monkeypatch, app_config: dict) -> None:
    """Never served with a framing it was not calibrated for: start-up stops and says why."""
    manifest = read_manifest(models_copy)
    del manifest["models"]["age_gender"]["framing"]["detectors"][detector]
    (models_copy / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("FACEINSIGHT_MODELS", str(models_copy))
    monkeypatch.setenv("FACEINSIGHT_DETECTOR", detector)
    with pytest.raises(ModelError, match=f"age_gender model has no crop geometry for the '{detector}'"):
        create_app(app_config)
    with pytest.raises(ModelError, match="no crop geometry"):
        verify_model_files()  # what gunicorn's master checks before any worker starts


def test_an_unknown_detector_stops_start_up(fresh_models: None, monkeypatch, app_config: dict) -> None:
    monkeypatch.setenv("FACEINSIGHT_DETECTOR", "yolo")
    with pytest.raises(ModelError, match="unknown face detector 'yolo'; choose one of haar, blazeface"):
        create_app(app_config)
