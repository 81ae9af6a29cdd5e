"""A full disk while a request arrives: Werkzeug spools a form part over 500 KB to a temporary
file while it parses the request (a video part to the upload folder, where its job reads it; any
other to TMPDIR); a disk with no room there gives 503 with a plain message, never a 500."""

from __future__ import annotations

import io
import os
import tempfile
import time

import pytest
from webhelpers import wait_for_job, write_video

from faceinsight.web import requests as requests_module
from faceinsight.web.errors import DISK_FULL_MESSAGE
from faceinsight.web.requests import SPOOL

SPOOL_LIMIT = 500 * 1024  # werkzeug's default_stream_factory keeps smaller parts in memory


@pytest.fixture
def full_tmpdir(monkeypatch) -> None:
    """Every temporary file is /dev/full: writing to it fails with ENOSPC, as a full disk does."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda *_args, **_kwargs: open("/dev/full", "w+b"))


def assert_disk_full(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert response.get_json() == {"error": DISK_FULL_MESSAGE}
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.usefixtures("full_tmpdir")
def test_a_large_photo_part_with_tmpdir_full_is_503(client, astronaut_jpeg, caplog):
    padded = astronaut_jpeg + b"\0" * (SPOOL_LIMIT + 1)  # only its size matters here
    response = client.post("/api/v1/analyze", data={"file": (io.BytesIO(padded), "large.jpg")},
                           content_type="multipart/form-data")
    assert_disk_full(response)
    assert "unhandled error" not in caplog.text and "Traceback" not in caplog.text

    # A part small enough to stay in memory is still analysed.
    small = client.post("/api/v1/analyze", data={"file": (io.BytesIO(astronaut_jpeg), "small.jpg")},
                        content_type="multipart/form-data")
    assert len(astronaut_jpeg) < SPOOL_LIMIT and small.status_code == 200 and small.get_json()["faces"]


def post_large_video(client, tmp_path):
    video = write_video(tmp_path / "long.avi", frames=60, side=480)
    assert video.stat().st_size > SPOOL_LIMIT
    return client.post("/api/v1/videos", data={"file": (io.BytesIO(video.read_bytes()), "long.avi")},
                       content_type="multipart/form-data")


def spool_files(app_config) -> list:
    folder = app_config["FACEINSIGHT_UPLOAD_DIR"] / SPOOL
    return list(folder.iterdir()) if folder.exists() else []


@pytest.mark.usefixtures("full_tmpdir")
def test_a_video_is_spooled_once_in_the_upload_folder_not_in_tmpdir(client, app_config, tmp_path):
    """With TMPDIR full, a video is still accepted: its part is written once, in the upload
    folder, and becomes the job's file (a link, not a second copy)."""
    response = post_large_video(client, tmp_path)
    assert response.status_code == 202, response.get_json()
    assert wait_for_job(client, response.get_json()["url"])["status"] == "done"
    assert spool_files(app_config) == [], "the spooled part outlived its request"


def test_a_full_upload_folder_while_a_video_arrives_is_503_and_leaves_nothing(
        client, app_config, tmp_path, monkeypatch):
    real = requests_module.spool_file

    def full_spool(upload_dir):
        spool = real(upload_dir)
        spool.file = open("/dev/full", "w+b")  # noqa: SIM115 - the wrapper closes it
        return spool

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    monkeypatch.setattr(requests_module, "spool_file", full_spool)
    monkeypatch.setattr("faceinsight.web.spool_file", full_spool)
    assert_disk_full(post_large_video(client, tmp_path))
    jobs = app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs"
    assert not jobs.exists() or not any(jobs.iterdir())
    assert spool_files(app_config) == [], "the half-written part outlived its request"
    assert client.get("/health").status_code == 200


def test_a_part_left_by_an_ended_process_is_swept(app_config, tmp_path):
    upload_dir = tmp_path / "uploads"
    left = upload_dir / SPOOL / "video-abc.part"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"half a video")
    assert requests_module.sweep_spool(upload_dir, 3600) == 0
    assert requests_module.sweep_spool(upload_dir, 3600, now=time.time() + 7200) == 1
    assert not left.exists()


def test_other_os_errors_are_still_internal_errors(app, client, monkeypatch):
    """Only a full disk is the server's state; any other OSError stays a (logged) 500."""
    def broken(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("faceinsight.web.api.read_image_request", broken)
    response = client.post("/api/v1/analyze", data={"file": (io.BytesIO(b"x"), "a.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 500 and response.get_json() == {
        "error": "internal error; the request was not processed"}
