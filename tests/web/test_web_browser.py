"""The page in real headless Chromium (Debian's chromium, driven by Playwright).

Chromium's fake camera plays a small .y4m clip made from the astronaut photo, so the webcam mode
sees a real face. The server is the real app on 127.0.0.1 (a secure origin for the camera).
"""

from __future__ import annotations

import base64
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from webhelpers import astronaut, encode, write_video
from werkzeug.serving import make_server

from faceinsight.web import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT_MS = 45_000  # generous: CI boxes are small and the models load on first use

PLAIN_HTTP_HOST = "faceinsight.test"

pytestmark = pytest.mark.browser


def wait_until(page, expression: str, timeout_s: float = TIMEOUT_MS / 1000):
    """Poll a JavaScript expression until it is truthy.

    Playwright's wait_for_function evaluates its predicate with eval(), which the page's CSP
    (rightly) forbids; page.evaluate goes through DevTools and is not affected.

    :param page: the Playwright page.
    :param expression: a JavaScript expression.
    :param timeout_s: give up (and fail) after this many seconds.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.1)


def write_y4m(path: Path, frames: int = 10, width: int = 640, height: int = 480) -> Path:
    """A raw 4:2:0 .y4m clip of the astronaut, letterboxed to width x height.

    :param path: the file to write.
    :param frames: frames in the clip (Chromium loops it).
    :param width: frame width (even).
    :param height: frame height (even).
    """
    canvas = np.zeros((height, width, 3), np.uint8)
    face = cv2.resize(astronaut(), (height, height))
    left = (width - height) // 2
    canvas[:, left:left + height] = face
    yuv = cv2.cvtColor(canvas, cv2.COLOR_RGB2YUV_I420).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + yuv)
    return path


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
    camera = write_y4m(tmp_path_factory.mktemp("camera") / "astronaut.y4m")
    browser = playwright_api.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera}",
        f"--host-resolver-rules=MAP {PLAIN_HTTP_HOST} 127.0.0.1",  # a non-localhost name
    ])
    yield browser
    browser.close()


@pytest.fixture
def page(browser, server):
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


def test_live_mode_draws_boxes_and_labels(page):
    assert page.locator("#insecure-warning").is_hidden()  # 127.0.0.1 is a secure origin
    page.click("#camera-enable")
    wait_until(page, "document.getElementById('camera-video').videoWidth > 0")
    page.check("#live-toggle")
    wait_until(page, "Number(document.getElementById('camera-overlay').dataset.faces) > 0")
    painted = page.evaluate("""() => {
        const c = document.getElementById('camera-overlay');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
        return n;
    }""")
    assert painted > 100, "no box or label was drawn over the video"
    label = page.locator("#live-faces li").first.text_content()
    assert any(gender in label for gender in ("male", "female"))
    assert "Live:" in page.locator("#live-status").text_content()


def test_snapshot_lands_in_the_log(page):
    page.click("#camera-enable")
    wait_until(page, "document.getElementById('camera-video').videoWidth > 0")
    page.click("#snapshot")
    entry = page.locator("#session-log li").first
    entry.wait_for()
    assert "Snapshot" in entry.text_content()
    assert entry.locator("img").get_attribute("src").startswith("data:image/jpeg")
    assert page.locator("#snapshot-result .face-card").count() >= 1


def test_camera_refused_is_explained(browser, server):
    context = browser.new_context(base_url=server)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script("""navigator.mediaDevices.getUserMedia = () =>
        Promise.reject(new DOMException('denied', 'NotAllowedError'));""")
    page = context.new_page()
    page.goto("/")
    page.click("#camera-enable")
    page.wait_for_selector("#message.error")
    assert "refused" in page.locator("#message").text_content()
    context.close()


def test_plain_http_from_another_host_explains_the_camera(browser, server):
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(server.replace("127.0.0.1", PLAIN_HTTP_HOST) + "/")
    assert page.evaluate("window.isSecureContext") is False
    assert page.locator("#insecure-warning").is_visible()
    assert "https" in page.locator("#insecure-warning").text_content()
    page.click("#camera-enable")
    assert "secure" in page.locator("#message").text_content()
    context.close()


def test_dropped_photo_shows_face_cards_and_escapes_its_name(page):
    page.click("#tab-photo")
    name = "<img src=x onerror=alert(1)>.jpg"
    payload = base64.b64encode(encode(astronaut())).decode()
    transfer = page.evaluate_handle("""([data, name]) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: 'image/jpeg'}));
        return dt;
    }""", [payload, name])
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    card = page.locator("#photo-cards .face-card").first
    card.wait_for()
    text = card.text_content()
    assert "Age" in text and "Gender" in text and "bracket" in text
    assert card.locator(".bars li").count() == 7
    assert page.locator("#photo-canvas").is_visible()
    title = page.locator("#session-log .entry-title").first
    assert title.text_content() == name  # shown as text ...
    assert page.locator("img[src='x']").count() == 0  # ... never as markup


def test_no_face_photo_says_so(page):
    page.click("#tab-photo")
    page.set_input_files("#photo-input", files=[{
        "name": "wall.png", "mimeType": "image/png",
        "buffer": encode(np.full((240, 320, 3), 180, np.uint8), "PNG")}])
    page.wait_for_selector("#photo-cards .no-face")
    assert "No face found" in page.locator("#message").text_content()


def test_video_upload_reaches_100_and_shows_the_chart(page, tmp_path):
    video = write_video(tmp_path / "clip.avi")
    page.click("#tab-video")
    page.set_input_files("#video-input", str(video))
    page.fill("#video-fps", "2")
    page.click("#video-submit")
    wait_until(page, "document.getElementById('video-progress-text').textContent.startsWith('100 %')")
    assert page.locator("#video-progress").evaluate("p => p.value") == 100
    page.wait_for_selector("#video-results", state="visible")
    assert int(page.locator("#video-chart").get_attribute("data-points")) == 4
    assert page.locator("#video-tracks tbody tr").count() >= 1
    assert page.locator("#video-csv").get_attribute("href").endswith("/results.csv")
    box = page.locator("#video-chart").bounding_box()
    page.mouse.click(box["x"] + box["width"] - 20, box["y"] + box["height"] / 2)
    wait_until(page, "document.getElementById('video-frame').dataset.frame === '3'")
    assert "1.50 s" in page.locator("#video-frame-caption").text_content()
    page.locator("#session-log li[data-kind='video']").first.wait_for()


def test_theme_is_remembered_and_clear_session_empties_the_log(page):
    before = page.evaluate("document.documentElement.dataset.theme")
    page.click("#theme-toggle")
    page.reload()
    after = page.evaluate("document.documentElement.dataset.theme")
    assert after != before and after in ("light", "dark")
    page.check("#keep-toggle")
    wait_until(page, "document.getElementById('message').textContent.includes('kept')")
    page.click("#tab-photo")
    page.set_input_files("#photo-input", files=[{
        "name": "a.jpg", "mimeType": "image/jpeg", "buffer": encode(astronaut())}])
    page.locator("#session-log li").first.wait_for()
    page.click("#clear-session")
    wait_until(page, "document.getElementById('message').textContent.includes('Session cleared')")
    assert "1 kept capture" in page.locator("#message").text_content()
    assert page.locator("#session-log li").count() == 0
    assert not page.is_checked("#keep-toggle")
