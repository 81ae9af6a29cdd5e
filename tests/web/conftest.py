"""Fixtures for the web app's tests: an app on temporary folders, test images and videos, a
real redis-server on loopback, and a live server for the browser tests.

Nothing here reads ../shared: the face is scikit-image's 'astronaut' photo.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from webhelpers import astronaut, encode, free_port, write_video

from faceinsight.web import create_app


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    return encode(astronaut())


@pytest.fixture(scope="session")
def blank_png() -> bytes:
    return encode(np.full((200, 200, 3), 200, np.uint8), "PNG")


@pytest.fixture
def app_config(tmp_path: Path) -> dict:
    """Settings for a test app: private temporary folders, sweep off."""
    return {
        "TESTING": True,
        "FACEINSIGHT_UPLOAD_DIR": tmp_path / "uploads",
        "FACEINSIGHT_INSTANCE_DIR": tmp_path / "instance",
        "FACEINSIGHT_SWEEP_MINUTES": 0,
        "REDIS_URL": None,
    }


@pytest.fixture
def app(app_config: dict):
    application = create_app(app_config)
    yield application
    application.extensions["faceinsight.jobs"].shutdown()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.avi")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """A throwaway redis-server on a free loopback port (no persistence)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server); RQ mode not tested")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--daemonize", "no", "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    url = f"redis://127.0.0.1:{port}/0"
    connection = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            connection.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    yield url
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "browser: runs the page in headless Chromium (skip with -m 'not browser')")


@pytest.fixture
def make_app(app_config: dict) -> Iterator[Callable[..., object]]:
    """Make apps on ``app_config`` with overrides (``make(FACEINSIGHT_...=...)``); each one's
    sweeper and job pool are stopped when the test ends."""
    made: list = []

    def make(**overrides):
        application = create_app({**app_config, **overrides})
        made.append(application)
        return application

    yield make
    for application in made:
        application.extensions["faceinsight.sweeper"].stop()
        application.extensions["faceinsight.jobs"].shutdown()
