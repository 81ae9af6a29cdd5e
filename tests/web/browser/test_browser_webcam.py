"""The Webcam tab in headless Chromium: live boxes and readings, snapshots, the camera's
lifetime (off its tab, page hidden), and what the page says when the camera cannot start.

Chromium's fake camera films the astronaut (conftest.py); 127.0.0.1 is a secure origin.
"""

from __future__ import annotations

import time

import pytest
from browserhelpers import (
    PLAIN_HTTP_HOST,
    TIMEOUT_MS,
    drop_photos,
    open_page,
    start_camera,
    take_snapshot,
    wait_until,
)
from webhelpers import astronaut, encode

pytestmark = pytest.mark.browser


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
