"""The page as a whole in headless Chromium: theme and Clear session, the mode tabs, phone
width, axe-core in both themes, the API page, and the emotion names the server gives it.
"""

from __future__ import annotations

import json

import pytest
from browserhelpers import (
    PHONE,
    analyse_video,
    axe_violations,
    drop_photos,
    open_page,
    scroll_width,
    start_camera,
    take_snapshot,
    wait_until,
)
from webhelpers import astronaut, encode, write_video

from faceinsight.labels import EMOTIONS

pytestmark = pytest.mark.browser


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


def test_no_sideways_scroll_at_phone_width_at_any_step(browser, server, tmp_path):
    context, page = open_page(browser, server, viewport=PHONE)
    widths = {"load": scroll_width(page)}
    page.check("#keep-toggle")
    start_camera(page, live=True)
    widths["live"] = scroll_width(page)
    take_snapshot(page)
    widths["snapshot"] = scroll_width(page)
    page.click("#record-toggle")
    page.wait_for_timeout(1000)
    page.click("#record-toggle")
    page.locator("#recording-section").wait_for()
    widths["recorded"] = scroll_width(page)
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
    page.click("#record-toggle")
    wait_until(page, "document.getElementById('record-status').textContent.startsWith('Recording')")
    report["recording"] = axe_violations(page, axe_source)
    page.click("#record-toggle")
    page.locator("#recording-section").wait_for()
    report["recorded"] = axe_violations(page, axe_source)
    page.click("#tab-photo")
    drop_photos(page, [("astronaut.jpg", encode(astronaut()), "image/jpeg")])
    page.locator("#photo-results .face-card").first.wait_for()
    report["photo"] = axe_violations(page, axe_source)
    analyse_video(page, write_video(tmp_path / "clip.avi"))
    page.locator(".chart-data summary").click()
    report["video"] = axe_violations(page, axe_source)
    assert {step: found for step, found in report.items() if found} == {}
    context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_api_page_lists_every_route_readably(browser, server, axe_source, theme):
    """The footer's API link opens a page a person reads (not raw JSON): every route of the
    OpenAPI document, its fields and answers; axe-clean in both themes, no sideways scroll."""
    context, page = open_page(browser, server, viewport={"width": 390, "height": 844}, color_scheme=theme)
    page.click("footer a[href='/api']")
    page.wait_for_selector("h1")
    document = json.loads(page.evaluate("fetch('/api/v1/openapi.json').then(r => r.text())"))
    headings = page.locator(".api-route h2").all_text_contents()
    expected = [f"{method.upper()} {path}" for path, item in document["paths"].items()
                for method in item if method in ("get", "post", "delete")]
    assert sorted(headings) == sorted(expected)
    assert "preview" in page.locator("#post-api-v1-analyze").text_content()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert axe_violations(page, axe_source) == []
    context.close()


def test_the_emotion_names_come_from_the_server(browser, server, monkeypatch):
    """The page shows the emotions the server names, in its order (faceinsight.labels is the one
    list): served in another order, the face cards' emotion bars follow it."""
    from faceinsight.web import pages

    assert [*EMOTIONS] == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    served = tuple(reversed(EMOTIONS))
    monkeypatch.setattr(pages, "EMOTIONS", served)  # the server runs in this process
    context, page = open_page(browser, server)
    assert page.evaluate("import('/static/js/util.js').then((m) => [...m.EMOTIONS])") == [*served]
    page.click("#tab-photo")
    drop_photos(page, [("astronaut.jpg", encode(astronaut()), "image/jpeg")])
    bars = page.locator("#photo-results .face-card").first.locator(".bars li > span:first-child")
    bars.first.wait_for()
    assert bars.all_text_contents() == [*served]
    context.close()
