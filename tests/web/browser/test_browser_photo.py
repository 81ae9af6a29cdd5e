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
    page.click("#camera-enable")  # live starts with the camera
    wait_until(page, "Number(document.getElementById('camera-overlay').dataset.faces) > 0")
    assert page.is_checked("#live-toggle")
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
    card = page.locator("#photo-results .face-card").first
    card.wait_for()
    text = card.text_content()
    assert "Age" in text and "likely" in text and "Gender" in text
    assert card.locator(".bars li").count() == 7
    assert page.locator("#photo-results .photo-canvas").is_visible()
    assert page.locator("#photo-results h2").text_content() == name
    title = page.locator("#session-log .entry-title").first
    assert title.text_content() == name  # shown as text ...
    assert page.locator("img[src='x']").count() == 0  # ... never as markup


def test_no_face_photo_says_so(page):
    page.click("#tab-photo")
    page.set_input_files("#photo-input", files=[{
        "name": "wall.png", "mimeType": "image/png",
        "buffer": encode(np.full((240, 320, 3), 180, np.uint8), "PNG")}])
    page.wait_for_selector("#photo-results .no-face")
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
    page.locator("#video-chart").scroll_into_view_if_needed()
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
    page.once("dialog", lambda dialog: dialog.dismiss())  # "Clear this session?" - no
    page.click("#clear-session")
    assert page.locator("#session-log li").count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#clear-session")
    wait_until(page, "document.getElementById('message').textContent.includes('Session cleared')")
    assert "1 kept capture" in page.locator("#message").text_content()
    assert page.locator("#session-log li").count() == 0
    assert not page.is_checked("#keep-toggle")


# --- What a user meets (issue 13): snapshot picture, camera lifetime, tabs, phones, axe-core ---

ROOT = Path(__file__).resolve().parents[2]
# axe-core from the npm registry: `make axe` (or .ci/run) puts it in the ignored .cache/npm.
AXE_PATHS = (ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js",
             ROOT / "node_modules" / "axe-core" / "axe.min.js")
PHONE = {"width": 390, "height": 844}


def open_page(browser, server, viewport=None, color_scheme="light"):
    """A fresh context and page (own session), answering "yes" to the page's confirmations."""
    context = browser.new_context(base_url=server, viewport=viewport or {"width": 1280, "height": 800},
                                  color_scheme=color_scheme)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/")
    return context, page


def start_camera(page, live=False):
    page.click("#camera-enable")
    wait_until(page, "document.getElementById('camera-video').videoWidth > 0")
    if live:  # live starts with the camera
        wait_until(page, "Number(document.getElementById('camera-overlay').dataset.faces) > 0")


def take_snapshot(page):
    page.click("#snapshot")
    page.locator("#snapshot-result .face-card").first.wait_for()
    wait_until(page, "!document.getElementById('snapshot').disabled")


def drop_photos(page, files):
    """Drop (name, bytes, type) files on the dropzone as one drag-and-drop."""
    payload = [[base64.b64encode(data).decode(), name, kind] for name, data, kind in files]
    transfer = page.evaluate_handle("""(files) => {
        const dt = new DataTransfer();
        for (const [data, name, kind] of files) {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            dt.items.add(new File([bytes], name, {type: kind}));
        }
        return dt;
    }""", payload)
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


def analyse_video(page, path, fps: str = "2"):
    page.click("#tab-video")
    page.set_input_files("#video-input", str(path))
    page.fill("#video-fps", fps)
    page.click("#video-submit")
    wait_until(page, "document.getElementById('video-frame').dataset.frame !== undefined")


def scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def canvas_colours(page, selector: str) -> int:
    """How many of a canvas's pixels are box or label colours (saturated, not in the photo's grey)."""
    return page.evaluate("""(selector) => {
        const c = document.querySelector(selector);
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < data.length; i += 4) {
            const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
            if (r > 230 && g > 150 && g < 190 && b < 30) n++;  // the "happy" box colour #f2a900
        }
        return n;
    }""", selector)


def test_snapshot_shows_its_frame_with_boxes_numbered_like_the_cards(browser, server):
    context, page = open_page(browser, server)
    start_camera(page)
    take_snapshot(page)
    snapshot = page.locator("#snapshot-canvas")
    assert snapshot.is_visible()
    size = page.evaluate("[document.getElementById('snapshot-canvas').width, "
                         "document.getElementById('camera-video').videoWidth]")
    assert size[0] == size[1] == 640  # the full captured frame
    cards = page.locator("#snapshot-result .face-card")
    assert int(snapshot.get_attribute("data-faces")) == cards.count() >= 1
    assert cards.first.locator("h3").text_content().endswith("Face 1")
    assert canvas_colours(page, "#snapshot-canvas") > 200  # box 1 and its label "1: ..."
    assert "numbered" in snapshot.get_attribute("aria-label")
    context.close()


def test_camera_stops_off_its_tab_and_when_hidden_and_comes_back(browser, server):
    context, page = open_page(browser, server)
    start_camera(page, live=True)
    transforms = page.evaluate("['camera-video', 'camera-overlay'].map("
                               "id => getComputedStyle(document.getElementById(id)).transform)")
    # The preview mirrored; its boxes are drawn on frames sent mirrored, so they need no flip.
    assert transforms == ["matrix(-1, 0, 0, 1, 0, 0)", "none"]
    page.evaluate("window.firstTrack = document.getElementById('camera-video').srcObject.getVideoTracks()[0]")
    page.click("#tab-photo")
    assert page.evaluate("window.firstTrack.readyState") == "ended"  # the camera light goes off
    assert page.evaluate("document.getElementById('camera-video').srcObject") is None
    analysed = []
    page.on("request", lambda request: analysed.append(request.url) if "/analyze" in request.url else None)
    time.sleep(1.5)
    assert analysed == [], "the live overlay kept sending frames from another tab"
    page.click("#tab-webcam")  # back: camera and live both resume
    wait_until(page, "document.getElementById('camera-video').videoWidth > 0")
    assert page.is_checked("#live-toggle")
    wait_until(page, "Number(document.getElementById('camera-overlay').dataset.faces) > 0")
    # The page hidden (another browser tab, a locked phone) stops it too.
    page.evaluate("window.secondTrack = "
                  "document.getElementById('camera-video').srcObject.getVideoTracks()[0]")
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    assert page.evaluate("window.secondTrack.readyState") == "ended"
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    wait_until(page, "document.getElementById('camera-video').videoWidth > 0")
    # Stopped by hand, it stays stopped when the user comes back.
    page.click("#camera-enable")
    page.click("#tab-video")
    page.click("#tab-webcam")
    time.sleep(0.5)
    assert page.evaluate("document.getElementById('camera-video').srcObject") is None
    context.close()


def test_tabs_answer_arrow_keys_home_and_end_and_are_remembered(browser, server):
    context, page = open_page(browser, server)
    selected = "document.querySelector('[role=tab][aria-selected=true]').id"
    focused = "document.activeElement.id"
    page.focus("#tab-webcam")
    page.keyboard.press("ArrowRight")
    assert page.evaluate(selected) == page.evaluate(focused) == "tab-photo"
    assert page.locator("#panel-photo").is_visible() and page.locator("#panel-webcam").is_hidden()
    page.keyboard.press("End")
    assert page.evaluate(selected) == page.evaluate(focused) == "tab-video"
    page.keyboard.press("ArrowRight")  # wraps round
    assert page.evaluate(selected) == "tab-webcam"
    page.keyboard.press("ArrowLeft")
    assert page.evaluate(selected) == "tab-video"
    page.keyboard.press("Home")
    assert page.evaluate(selected) == page.evaluate(focused) == "tab-webcam"
    page.keyboard.press("ArrowRight")
    tab_stops = page.evaluate("[...document.querySelectorAll('[role=tab]')].map(t => t.tabIndex)")
    assert tab_stops == [-1, 0, -1]  # one tab stop: the selected tab
    page.reload()
    assert page.evaluate(selected) == "tab-photo" and page.locator("#panel-photo").is_visible()
    context.close()


def test_photos_one_result_each_and_an_error_replaces_them(browser, server):
    context, page = open_page(browser, server)
    page.click("#tab-photo")
    wall = encode(np.full((240, 320, 3), 180, np.uint8))
    drop_photos(page, [("astronaut.jpg", encode(astronaut()), "image/jpeg"),
                       ("wall.jpg", wall, "image/jpeg")])
    page.locator("#photo-results .no-face").wait_for()
    results = page.locator("#photo-results .photo-result")
    assert results.count() == 2
    assert results.nth(0).locator("h2").text_content() == "astronaut.jpg"
    assert results.nth(0).locator(".face-card").count() >= 1
    assert results.nth(1).locator(".no-face").count() == 1
    assert "1 of 2" in page.locator("#message").text_content()
    drop_photos(page, [("broken.jpg", b"not an image at all", "image/jpeg")])
    page.wait_for_selector("#photo-results .error-text")
    assert page.locator("#photo-results .photo-result").count() == 1  # the old results are gone
    assert page.locator("#photo-results .face-card").count() == 0
    assert page.locator("#message.error").is_visible()
    context.close()


def test_label_at_the_edge_stays_inside_the_picture(browser, server):
    context, page = open_page(browser, server)
    page.goto("/")
    inside = page.evaluate("""async () => {
        const { drawFaces } = await import('/static/js/draw.js');
        const c = document.createElement('canvas');
        c.width = 200; c.height = 150;
        const ctx = c.getContext('2d');
        const scores = {angry: 0, disgust: 0, fear: 0, happy: 1, neutral: 0, sad: 0, surprise: 0};
        const face = {box: [170, 0, 30, 30], age: 31, gender: 'female', emotion: 'happy',
                      emotion_scores: scores};
        const rects = [];
        const fillRect = ctx.fillRect.bind(ctx);
        ctx.fillRect = (x, y, w, h) => { rects.push([x, y, w, h]); fillRect(x, y, w, h); };
        drawFaces(ctx, [face], 1);
        return rects.every(([x, y, w, h]) => x >= 0 && y >= 0 && x + w <= c.width && y + h <= c.height);
    }""")
    assert inside
    context.close()


def test_video_chart_keyboard_marker_table_and_old_results_stay(browser, server, tmp_path):
    context, page = open_page(browser, server)
    analyse_video(page, write_video(tmp_path / "clip.avi"))
    chart = page.locator("#video-chart")
    assert chart.get_attribute("data-marker") == "0"
    rows = page.locator("#video-timeline tbody tr")
    assert rows.count() == 4  # the chart's data as a table, one row per sample
    chart.focus()
    page.keyboard.press("ArrowRight")
    wait_until(page, "document.getElementById('video-frame').dataset.frame === '1'")
    assert chart.get_attribute("data-marker") == "1"
    page.keyboard.press("End")
    wait_until(page, "document.getElementById('video-frame').dataset.frame === '3'")
    page.locator("#video-timeline summary, .chart-data summary").first.click()
    rows.nth(2).locator("button").click()
    wait_until(page, "document.getElementById('video-frame').dataset.frame === '2'")
    assert rows.nth(2).get_attribute("aria-current") == "true"
    assert page.locator("#chart-track option").count() == page.locator("#video-tracks tbody tr").count()
    # A new upload: the old results stay on screen while it runs.
    page.route("**/api/v1/videos", lambda route: None)  # the upload never answers
    page.click("#video-submit")
    time.sleep(0.5)
    assert page.locator("#video-results").is_visible() and rows.count() == 4
    page.unroute("**/api/v1/videos")
    context.close()


def test_the_session_log_describes_a_few_faces_and_counts_the_rest(browser, server):
    """A 20-face photo made its session log entry a wall of text."""
    context, page = open_page(browser, server)
    lines = page.evaluate("""async () => {
        const { facesLine } = await import('/static/js/util.js');
        const scores = {angry: 0, disgust: 0, fear: 0, happy: 1, neutral: 0, sad: 0, surprise: 0};
        const face = {box: [0, 0, 9, 9], age: 31, age_range: [25, 38], gender: 'female',
                      gender_probability: 0.9, emotion: 'happy', emotion_scores: scores};
        return [0, 3, 4, 20].map((n) => facesLine(Array(n).fill(face)));
    }""")
    assert lines[0] == "No face found"
    assert lines[1].count("female") == 3 and "more" not in lines[1]
    assert lines[2].count("female") == 3 and lines[2].endswith("; and 1 more face")
    assert lines[3].count("female") == 3 and lines[3].endswith("; and 17 more faces")
    context.close()


def test_a_transparent_picture_has_a_white_thumbnail(browser, server):
    """The session log's JPEG thumbnails of transparent PNGs were black where the PNG is clear
    (the server reads those parts as white, and the page shows them light)."""
    context, page = open_page(browser, server)
    rgb = page.evaluate("""async () => {
        const { thumbnail } = await import('/static/js/util.js');
        const clear = document.createElement('canvas');
        clear.width = 50; clear.height = 50;  // nothing drawn: every pixel transparent
        const image = new Image();
        image.src = thumbnail(clear, 50, 50);
        await image.decode();
        const check = document.createElement('canvas');
        check.width = 50; check.height = 50;
        const ctx = check.getContext('2d');
        ctx.drawImage(image, 0, 0);
        return Array.from(ctx.getImageData(25, 25, 1, 1).data.slice(0, 3));
    }""")
    assert min(rgb) >= 245, rgb
    context.close()


def test_deleting_the_kept_video_on_screen_takes_its_results_off(browser, server, tmp_path):
    """Deleted from "Kept on the server", a video's results stayed with dead links (its frames
    gone, its CSV a failed download); and a cancelled job left a "cancelled" progress bar."""
    context, page = open_page(browser, server)
    page.check("#keep-toggle")
    analyse_video(page, write_video(tmp_path / "clip.avi"))
    assert page.locator("#video-results").is_visible()
    page.reload()  # a kept video's results could not be seen again once the page was left
    page.click("#tab-photo")
    page.locator("#kept-list li button", has_text="Open").click()
    wait_until(page, "!document.getElementById('video-results').hidden")
    assert page.locator("#panel-video").is_visible()
    assert page.locator("#video-results-heading").inner_text() == "Results: clip.avi"
    assert page.evaluate("document.activeElement.id") == "video-results-heading"
    assert page.locator("#session-log li").count() == 1  # opened again, not logged again
    page.locator("#kept-list li button.kept-delete").first.click()
    wait_until(page, "document.getElementById('message').textContent.startsWith('Deleted the kept video')")
    assert page.locator("#video-results").is_hidden() and page.locator("#video-frame").is_hidden()
    held = []
    page.route("**/api/v1/videos/*", lambda route: held.append(route) if route.request.method == "GET"
               else route.continue_())  # the job's status never comes: it stays running
    page.set_input_files("#video-input", str(write_video(tmp_path / "long.avi", frames=40)))
    page.click("#video-submit")
    wait_until(page, "!document.getElementById('video-cancel').hidden")
    wait_until(page, "document.getElementById('video-progress-text').textContent.includes('queued')")
    page.click("#video-cancel")
    wait_until(page, "document.getElementById('message').textContent.includes('was cancelled')")
    assert page.locator("#video-progress-row").is_hidden()
    context.close()


def test_no_sideways_scroll_at_phone_width_at_any_step(browser, server, tmp_path):
    context, page = open_page(browser, server, viewport=PHONE)
    widths = {"load": scroll_width(page)}
    page.check("#keep-toggle")
    start_camera(page, live=True)
    widths["live"] = scroll_width(page)
    take_snapshot(page)
    widths["snapshot"] = scroll_width(page)
    page.click("#tab-photo")
    drop_photos(page, [("a-photo-with-a-rather-long-file-name-that-does-not-wrap.jpg",
                        encode(astronaut()), "image/jpeg")])
    page.locator("#photo-results .face-card").first.wait_for()
    widths["photo"] = scroll_width(page)
    analyse_video(page, write_video(tmp_path / "clip.avi"))
    page.locator(".chart-data summary").click()
    widths["video"] = scroll_width(page)
    assert max(widths.values()) <= PHONE["width"], widths
    kept = page.locator("#kept-list li")
    assert kept.count() == 3  # snapshot, photo and video: kept and listed
    assert kept.first.locator(".entry-text").inner_text().startswith("video, done")  # newest first
    context.close()


def axe_violations(page, source: str) -> list[str]:
    """Run axe-core in the page (injected through DevTools, so the page's CSP stays as it is)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(source)
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(
            v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);
    }""")
    return found


@pytest.fixture(scope="module")
def axe_source() -> str:
    for path in AXE_PATHS:
        if path.is_file():
            return path.read_text()
    pytest.skip("axe-core is not installed (`make axe`, or npm install --prefix .cache/npm axe-core@4)")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_nothing_on_load_and_after_each_mode(browser, server, axe_source, theme, tmp_path):
    context, page = open_page(browser, server, color_scheme=theme)
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    name = page.evaluate("document.getElementById('theme-toggle').textContent")
    pressed = page.get_attribute("#theme-toggle", "aria-pressed")
    assert name == "Dark theme" and pressed == str(theme == "dark").lower()  # one name, both themes
    report = {"load": axe_violations(page, axe_source)}
    page.check("#keep-toggle")
    start_camera(page, live=True)
    take_snapshot(page)
    report["webcam"] = axe_violations(page, axe_source)
    page.click("#tab-photo")
    drop_photos(page, [("astronaut.jpg", encode(astronaut()), "image/jpeg")])
    page.locator("#photo-results .face-card").first.wait_for()
    report["photo"] = axe_violations(page, axe_source)
    analyse_video(page, write_video(tmp_path / "clip.avi"))
    page.locator(".chart-data summary").click()
    report["video"] = axe_violations(page, axe_source)
    assert {step: found for step, found in report.items() if found} == {}
    context.close()


def test_two_shots_are_two_faces_and_the_chart_picks_each(browser, server, tmp_path):
    colour = cv2.resize(astronaut(), (320, 320))
    grey = cv2.cvtColor(cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    path = tmp_path / "two-shots.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 320))
    for i in range(20):  # a cut after 1 s: a new shot is a new track, even in the same place
        writer.write(cv2.cvtColor(np.roll(colour if i < 10 else grey, i, axis=1), cv2.COLOR_RGB2BGR))
    writer.release()
    context, page = open_page(browser, server)
    analyse_video(page, path, fps="4")
    assert page.locator("#video-tracks tbody tr").count() == 2
    assert page.locator("#chart-track option").count() == 2 and page.is_enabled("#chart-track")
    page.select_option("#chart-track", "2")
    wait_until(page, "document.getElementById('video-frame').dataset.frame === '4'")
    times = page.locator("#video-timeline tbody tr td:first-child").all_text_contents()
    assert times == ["1.00 s", "1.30 s", "1.50 s", "1.80 s"]  # 10 frames/s sampled at 4/s
    assert page.locator("#video-chart").get_attribute("data-points") == "4"
    assert "#2" in page.locator("#video-frame-caption").text_content()
    context.close()


def test_labels_of_faces_side_by_side_never_cover_each_other(browser, server):
    """At phone width the label of face 2 was drawn over face 1's, hiding its number; then
    whole labels hid the faces beside theirs (three people side by side on a phone)."""
    context, page = open_page(browser, server, viewport=PHONE)
    overlaps = page.evaluate("""async () => {
        const { drawFaces } = await import('/static/js/draw.js');
        const c = document.createElement('canvas');
        c.width = 640; c.height = 480;
        c.style.width = '300px';  // shown small: labels are wide against the boxes
        document.body.append(c);
        const ctx = c.getContext('2d');
        const scores = {angry: 0, disgust: 0, fear: 0, happy: 1, neutral: 0, sad: 0, surprise: 0};
        const face = (x, y) => ({box: [x, y, 60, 60], age: 31, gender: 'female', emotion: 'happy',
                                 emotion_scores: scores});
        const rects = [];
        const fillRect = ctx.fillRect.bind(ctx);
        ctx.fillRect = (x, y, w, h) => { rects.push([x, y, w, h]); fillRect(x, y, w, h); };
        const overlapping = () => {
            let n = 0;
            rects.forEach((a, i) => rects.slice(i + 1).forEach((b) => {
                const across = a[0] < b[0] + b[2] && b[0] < a[0] + a[2];
                if (across && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]) n++;
            }));
            return n;
        };
        // Label i (the i-th rectangle filled) over the box of another face j.
        const coveringOthers = (faces) => rects.filter((a, i) => faces.some((f, j) => j !== i
            && a[0] < f.box[0] + f.box[2] && f.box[0] < a[0] + a[2]
            && a[1] < f.box[1] + f.box[3] && f.box[1] < a[1] + a[3])).length;
        const four = [face(100, 100), face(170, 110), face(240, 95), face(100, 200)];
        drawFaces(ctx, four, 1);
        const few = [rects.length, overlapping(), coveringOthers(four)];
        // A crowd: two rows of eight faces side by side; whole labels cannot all fit, numbers can
        rects.length = 0;
        const crowd = [];
        for (let row = 0; row < 2; row++) {
            for (let i = 0; i < 8; i++) crowd.push(face(20 + 75 * i, 120 + 150 * row));
        }
        drawFaces(ctx, crowd, 1);
        const many = [rects.length, overlapping(), coveringOthers(crowd)];
        // Three people side by side at slightly different heights, shown at phone width.
        rects.length = 0;
        const three = [face(40, 200), face(150, 215), face(260, 190)];
        ctx.canvas.style.width = '360px';
        drawFaces(ctx, three, 1);
        return [...few, ...many, rects.length, overlapping(), coveringOthers(three)];
    }""")
    assert overlaps == [4, 0, 0, 16, 0, 0, 3, 0, 0]
    context.close()


def test_a_failed_status_check_does_not_lose_the_video_job(browser, server, tmp_path):
    """One status check that failed made the page give up on a job the server went on to finish."""
    context, page = open_page(browser, server)
    failed = []

    def fail_once(route):
        if route.request.method == "GET" and not failed:
            failed.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/videos/*", fail_once)
    analyse_video(page, write_video(tmp_path / "clip.avi", frames=8, fps=4))
    assert failed and "Lost track" not in (page.text_content("#message") or "")
    assert page.locator("#video-tracks tbody tr").count() >= 1
    context.close()


def test_a_reload_keeps_following_a_running_video_job(browser, server, tmp_path):
    context, page = open_page(browser, server)
    held = []
    page.route("**/api/v1/videos/*", lambda route: held.append(route) if route.request.method == "GET"
               and not held else route.continue_())  # the first status check never answers
    page.click("#tab-video")
    page.set_input_files("#video-input", str(write_video(tmp_path / "clip.avi", frames=8, fps=4)))
    page.fill("#video-fps", "3")
    page.click("#video-submit")
    wait_until(page, "sessionStorage.getItem('faceinsight.video-job') !== null")
    page.unroute("**/api/v1/videos/*")
    page.reload()
    page.click("#tab-video")
    wait_until(page, "document.getElementById('video-frame').dataset.frame !== undefined")
    assert page.evaluate("sessionStorage.getItem('faceinsight.video-job')") is None  # done: forgotten
    assert page.input_value("#video-fps") == "3"  # the job's rate, not the form's default
    context.close()


def test_focus_stays_on_the_snapshot_button_and_results_are_announced(browser, server):
    context, page = open_page(browser, server)
    start_camera(page)
    page.focus("#snapshot")
    page.keyboard.press("Enter")
    page.locator("#snapshot-result .face-card").first.wait_for()
    wait_until(page, "!document.getElementById('snapshot').disabled")
    assert page.evaluate("document.activeElement.id") == "snapshot"
    assert "face found" in page.text_content("#message") or "faces found" in page.text_content("#message")
    drop_photos(page, [("me.jpg", encode(astronaut(), "JPEG"), "image/jpeg")])
    page.click("#tab-photo")
    wait_until(page, "document.getElementById('message').textContent.includes('me.jpg: 1 face found')")
    context.close()


def test_a_photo_says_faces_were_left_out_only_when_they_were(browser, server):
    """Issue 26: 20 faces said "the largest; smaller ones were left out" though none was.
    Now 20 or 25 faces read of as many found say nothing of it; 100 read of 130 say so."""
    import json

    context, page = open_page(browser, server)
    scores = {name: 0.0 for name in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")}
    face = {"age": 30.0, "age_range": [25, 36], "age_group": "19-30", "gender": "female",
            "gender_probability": 0.9, "emotion": "happy", "emotion_scores": {**scores, "happy": 1.0}}

    def answer(read: int, found: int) -> str:
        faces = [{**face, "box": [5 + 50 * (i % 10), 5 + 50 * (i // 10), 20, 20]} for i in range(read)]
        return json.dumps({"faces": faces, "faces_found": found, "image": {"width": 512, "height": 512},
                           "timing_ms": {"decode": 1, "detect": 1, "predict": 1, "total": 3}})

    answers = [answer(20, 20), answer(25, 25), answer(100, 130)]
    page.route("**/api/v1/analyze", lambda route: route.fulfill(
        status=200, content_type="application/json", body=answers.pop(0)))
    page.click("#tab-photo")
    photo = encode(astronaut(), "JPEG")
    for name, count in (("twenty.jpg", 20), ("twenty-five.jpg", 25)):
        drop_photos(page, [(name, photo, "image/jpeg")])
        wait_until(page, f"document.getElementById('message').textContent === '{name}: {count} faces found.'")
        assert page.locator("#photo-results .face-card").count() == count
        assert page.locator(".faces-left-out").count() == 0
    drop_photos(page, [("crowd.jpg", photo, "image/jpeg")])
    said = "130 faces found; the 100 surest were read."
    wait_until(page, f"document.getElementById('message').textContent === '{said}'")
    assert page.text_content(".faces-left-out") == said
    assert page.locator("#photo-results .face-card").count() == 100
    context.close()


def test_cancel_once_the_upload_has_left_deletes_the_job(browser, server, tmp_path):
    """Cancel at "Uploading 100 %" aborted a request the server was already answering: the job
    ran and was kept, while the page said nothing was kept. Now it is deleted once named."""
    context, page = open_page(browser, server)
    page.check("#keep-toggle")
    network = context.new_cdp_session(page)
    network.send("Network.enable")  # answers come 3 s late: time to press Cancel at 100 %
    network.send("Network.emulateNetworkConditions", {"offline": False, "latency": 3000,
                                                      "downloadThroughput": -1, "uploadThroughput": -1})
    page.click("#tab-video")
    page.set_input_files("#video-input", str(write_video(tmp_path / "clip.avi")))
    page.click("#video-submit")
    wait_until(page, "document.getElementById('video-progress-text').textContent === 'Uploading 100 %'")
    page.click("#video-cancel")
    assert page.inner_text("#video-progress-text") == "Cancelling…"
    network.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                      "downloadThroughput": -1, "uploadThroughput": -1})
    wait_until(page, "document.getElementById('message').textContent.includes('nothing was kept')")
    assert page.locator("#video-progress-row").is_hidden()
    listing = page.evaluate("async () => (await (await fetch('/session/captures')).json()).videos")
    assert listing == []
    context.close()


def choose_photo(browser, server, path: Path):
    """A fresh page's Photo tab given one file to read; returns the context, the page and the
    boxed picture once it is drawn."""
    context, page = open_page(browser, server)
    page.click("#tab-photo")
    page.set_input_files("#photo-input", str(path))
    canvas = page.locator("#photo-results .photo-canvas")
    canvas.wait_for()
    return context, page, canvas


def phone_photo() -> bytes:
    """A 4000x3000 phone photo of three people of over 10 MiB, stored sideways with EXIF
    orientation 6 as a phone held upright stores it (read sideways, no face is found)."""
    from PIL import Image

    rng = np.random.default_rng(3)
    grain = cv2.resize(rng.integers(0, 256, (750, 1000, 3), dtype=np.uint8), (4000, 3000))
    photo = np.clip(grain.astype(np.int16) + rng.integers(-50, 50, grain.shape, dtype=np.int16), 0, 255)
    photo = photo.astype(np.uint8)
    face = cv2.resize(astronaut(), (700, 700), interpolation=cv2.INTER_AREA)
    for left in (300, 1650, 3000):
        photo[1100:1800, left:left + 700] = face
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to show
    sideways = Image.fromarray(photo).transpose(Image.Transpose.ROTATE_90)
    return encode(np.asarray(sideways), "JPEG", quality=95, exif=exif.tobytes())


def test_a_phone_photo_over_the_limit_is_shrunk_in_the_browser_and_read(browser, server, tmp_path):
    """A 4000x3000 phone JPEG over the 10 MiB limit was refused ("larger than 10 MiB"): the page
    now sends an upright smaller copy, and the boxes land on the three faces."""
    path = tmp_path / "IMG_4032.JPG"
    path.write_bytes(phone_photo())
    assert path.stat().st_size > 10 * 1024 * 1024
    context, page, canvas = choose_photo(browser, server, path)
    assert canvas.get_attribute("data-faces") == "3"
    width, height = page.evaluate("(() => { const c = document.querySelector('#photo-results canvas');"
                                  " return [c.width, c.height]; })()")
    assert width > height and width <= 4096  # upright, as shown
    assert "smaller copy" in page.locator("#photo-results .shrunk").text_content()
    assert page.locator("#photo-results .face-card").count() == 3
    context.close()


def test_an_iphone_heic_photo_is_shown_with_its_boxes(browser, server, tmp_path):
    """Chromium cannot show HEIC: the page asks the server for a preview and boxes the face on it."""
    from face_helpers import encode_heic

    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(encode_heic(astronaut()))
    context, page, canvas = choose_photo(browser, server, path)
    assert canvas.get_attribute("data-faces") == "1"
    # The picture is drawn: her face's pixels are skin, not an empty canvas.
    red, blue = page.evaluate("""(() => {
        const c = document.querySelector('#photo-results canvas');
        const d = c.getContext('2d').getImageData(230, 120, 1, 1).data;
        return [d[0], d[2]]; })()""")
    assert red > blue + 30
    assert page.locator("#photo-results .face-card").count() == 1
    context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_api_page_lists_every_route_readably(browser, server, axe_source, theme):
    """The footer's API link opens a page a person reads (not raw JSON): every route of the
    OpenAPI document, its fields and answers; axe-clean in both themes, no sideways scroll."""
    import json as json_module

    context, page = open_page(browser, server, viewport={"width": 390, "height": 844}, color_scheme=theme)
    page.click("footer a[href='/api']")
    page.wait_for_selector("h1")
    document = json_module.loads(page.evaluate("fetch('/api/v1/openapi.json').then(r => r.text())"))
    headings = page.locator(".api-route h2").all_text_contents()
    expected = [f"{method.upper()} {path}" for path, item in document["paths"].items()
                for method in item if method in ("get", "post", "delete")]
    assert sorted(headings) == sorted(expected)
    assert "preview" in page.locator("#post-api-v1-analyze").text_content()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert axe_violations(page, axe_source) == []
    context.close()
