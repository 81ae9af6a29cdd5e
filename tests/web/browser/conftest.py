"""Fixtures of the browser tests: the real app on 127.0.0.1 (a secure origin for the camera),
Debian's Chromium driven by Playwright with the astronaut as its camera, and axe-core.

Each is made once per test module; tests that need their own session open a page with
:func:`browserhelpers.open_page`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from browserhelpers import (
    AXE_PATHS,
    CHROMIUM,
    PLAIN_HTTP_HOST,
    TIMEOUT_MS,
    launch_chromium,
    letterboxed_astronaut,
    write_y4m,
)
from werkzeug.serving import make_server

from faceinsight.web import create_app


@pytest.fixture(scope="module")
def playwright_api():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium); browser tests skipped")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    manager = sync_api.sync_playwright().start()
    yield manager
    manager.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """The app served by werkzeug on a free loopback port, in a thread."""
    root = tmp_path_factory.mktemp("browser-server")
    app = create_app({"FACEINSIGHT_UPLOAD_DIR": root / "uploads",
                      "FACEINSIGHT_INSTANCE_DIR": root / "instance",
                      "FACEINSIGHT_SWEEP_MINUTES": 0, "REDIS_URL": None})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    app.extensions["faceinsight.jobs"].shutdown()


@pytest.fixture(scope="module")
def browser(playwright_api, tmp_path_factory):
    """Chromium whose camera films the astronaut, still; PLAIN_HTTP_HOST reaches the server too."""
    camera = write_y4m(tmp_path_factory.mktemp("camera") / "astronaut.y4m", [letterboxed_astronaut()] * 10)
    name_rule = f"--host-resolver-rules=MAP {PLAIN_HTTP_HOST} 127.0.0.1"  # a non-localhost name
    browser = launch_chromium(playwright_api, camera, (name_rule,))
    yield browser
    browser.close()


@pytest.fixture
def page(browser, server):
    """A page of the app that must not break its own Content-Security-Policy."""
    context = browser.new_context(base_url=server)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.csp_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda msg: page.csp_errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    page.goto("/")
    yield page
    assert page.csp_errors == [], "the page broke its own Content-Security-Policy"
    context.close()


@pytest.fixture(scope="module")
def axe_source() -> str:
    for path in AXE_PATHS:
        if path.is_file():
            return path.read_text()
    pytest.skip("axe-core is not installed (`make axe`, or npm install --prefix .cache/npm axe-core@4)")
