"""A full TMPDIR: Werkzeug spools a form part over 500 KB to a temporary file while it parses the
request; a disk with no room there gives 503 with a plain message, never a 500."""

from __future__ import annotations

import io
import os
import tempfile

import pytest
from webhelpers import write_video

from faceinsight.web.errors import DISK_FULL_MESSAGE

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


@pytest.mark.usefixtures("full_tmpdir")
def test_a_video_with_tmpdir_full_is_503_and_leaves_no_job(client, app_config, tmp_path):
    video = write_video(tmp_path / "long.avi", frames=60, side=480)
    assert video.stat().st_size > SPOOL_LIMIT
    response = client.post("/api/v1/videos", data={"file": (io.BytesIO(video.read_bytes()), "long.avi")},
                           content_type="multipart/form-data")
    assert_disk_full(response)
    jobs = app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs"
    assert not jobs.exists() or not any(jobs.iterdir())
    assert client.get("/health").status_code == 200


def test_other_os_errors_are_still_internal_errors(app, client, monkeypatch):
    """Only a full disk is the server's state; any other OSError stays a (logged) 500."""
    def broken(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("faceinsight.web.api.read_image_request", broken)
    response = client.post("/api/v1/analyze", data={"file": (io.BytesIO(b"x"), "a.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 500 and response.get_json() == {
        "error": "internal error; the request was not processed"}
