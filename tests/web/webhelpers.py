"""Helpers shared by the web tests (a uniquely named module: tests/conftest.py is another's)."""

from __future__ import annotations

import base64
import io
import socket
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from faceinsight.jobs.store import JobState

# Where the astronaut's face is in the 512 x 512 photo (x, y, w, h), with generous slack.
ASTRONAUT_FACE = (160, 50, 130, 130)


def astronaut() -> np.ndarray:
    """The RGB astronaut photo (512 x 512), a real frontal face."""
    from skimage import data

    return data.astronaut()


def encode(image: np.ndarray, fmt: str = "JPEG", **params) -> bytes:
    """Encode an RGB array with Pillow.

    :param image: RGB (or gray) uint8 array.
    :param fmt: Pillow format name.
    :param params: extra save parameters.
    """
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, fmt, **params)
    return buffer.getvalue()


def overlaps_astronaut_face(box: list[int], scale: float = 1.0) -> bool:
    """Whether a box (in an image scaled by ``scale``) lies on the astronaut's face."""
    x, y, w, h = (v / scale for v in box)
    fx, fy, fw, fh = ASTRONAUT_FACE
    cx, cy = x + w / 2, y + h / 2
    return fx <= cx <= fx + fw and fy <= cy <= fy + fh


def write_video(path: Path, frames: int = 20, fps: float = 10.0, side: int = 320,
                fourcc: str = "MJPG", blank: bool = False) -> Path:
    """Write a short video of the astronaut drifting sideways (or of a blank frame).

    :param path: the file (.avi for MJPG, .mp4 for mp4v).
    :param frames: how many frames.
    :param fps: frames per second.
    :param side: frame width and height.
    :param fourcc: the codec.
    :param blank: a grey frame with no face instead of the astronaut.
    """
    base = np.full((side, side, 3), 128, np.uint8) if blank else cv2.resize(astronaut(), (side, side))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (side, side))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} videos here"
    for i in range(frames):
        shifted = np.roll(base, i, axis=1)  # the face moves a pixel per frame: one track
        writer.write(cv2.cvtColor(shifted, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def wait_for_job(client, url: str, timeout: float = 60.0) -> dict:
    """Poll a video job until it finishes; returns its last state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(url).get_json()
        if state["status"] in ("done", "failed", "cancelled"):
            return state
        time.sleep(0.1)
    raise AssertionError(f"the job did not finish in {timeout} s: {state}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def upload(client, data: bytes, name: str = "face.jpg", url: str = "/api/v1/analyze", **fields):
    """POST one file as multipart field ``file`` (plus form ``fields``) with Flask's test client."""
    form = {"file": (io.BytesIO(data), name), **fields}
    return client.post(url, data=form, content_type="multipart/form-data")


def data_url(data: bytes, media: str = "image/jpeg") -> str:
    """``data:<media>;base64,<data>``, as the page's live mode sends frames."""
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def csrf_in_page(html: str) -> str:
    """The CSRF token in the page's ``<meta name="csrf-token">``."""
    marker = 'name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def page_csrf(client) -> str:
    """Open the page with Flask's test client (which starts the session) and read its CSRF token."""
    return csrf_in_page(client.get("/").get_data(as_text=True))


def keep_captures(client) -> str:
    """Turn "Keep my captures" on for this client's session; returns its CSRF token."""
    token = page_csrf(client)
    response = client.post("/session/privacy", json={"keep": True}, headers={"X-CSRF-Token": token})
    assert response.status_code == 200 and response.get_json() == {"keep": True}
    return token


def post_video(client, path: Path, name: str | None = None, **fields):
    """POST a video file to ``/api/v1/videos`` (plus form ``fields``) with Flask's test client."""
    data = {"file": (io.BytesIO(path.read_bytes()), name or path.name), **fields}
    return client.post("/api/v1/videos", data=data, content_type="multipart/form-data")


def accepted_video(client, path: Path) -> dict:
    """:func:`post_video`, which must be accepted (202); the job's JSON."""
    response = post_video(client, path)
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def job_state(job_id: str, **fields) -> JobState:
    """A job's stored state as a queued job of a 4-frame video has it, with ``fields`` changed
    (for tests that write states directly)."""
    now = time.time()
    return JobState.model_validate({
        "id": job_id, "status": "queued", "progress": 0, "name": "clip.avi", "created": now,
        "sample_fps": 2.0, "frames_analyzed": 0, "frames_expected": 4, "error": None, "keep": False,
        "updated": now, "ttl_s": 3600, **fields})


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
