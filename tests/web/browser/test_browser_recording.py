"""Recording a live session on the Webcam tab (issue 26), in headless Chromium: the timeline's
chart, faces table and CSV/JSON downloads made in the page, by keyboard only; what stops a
recording; and that recording sends nothing to the server.

Chromium's fake camera films the astronaut, still (conftest.py).
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from browserhelpers import open_page, start_camera, wait_until

from faceinsight.video.results import CSV_FIELDS

pytestmark = pytest.mark.browser

# The readings the overlay steadies, which the live CSV gives twice: as read and as shown.
SHOWN_COLUMNS = [f"shown_{name}" for name in CSV_FIELDS[CSV_FIELDS.index("age"):]]

# Keeps the ages of the live answers the page received, and every request it sent.
WATCH_LIVE = """(() => {
    const send = window.fetch.bind(window);
    window.__liveAges = [];
    window.__requests = [];
    window.fetch = async (url, options) => {
        const file = options && options.body instanceof FormData ? options.body.get("file") : null;
        window.__requests.push(`${url} ${file ? file.name : ""}`);
        const response = await send(url, options);
        if (file && file.name === "live.jpg" && response.ok) {
            for (const face of (await response.clone().json()).faces) window.__liveAges.push(face.age);
        }
        return response;
    };
})()"""

PAINTED = """() => {
    const c = document.getElementById('recording-chart');
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
    return n;
}"""


def download(page, link: str):
    """Press Enter on a download link; the download's name and text."""
    page.focus(link)
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    item = info.value
    return item.suggested_filename, open(item.path(), encoding="utf-8").read()


def test_a_recording_gives_a_chart_a_table_and_csv_and_json_by_keyboard(browser, server):
    context, page = open_page(browser, server, init_script=WATCH_LIVE)
    assert page.is_disabled("#record-toggle")  # offered while live runs
    assert "in this page only" in page.text_content("#record-help")
    assert page.text_content("#record-limit") == "10 minutes"  # the limit the page applies
    start_camera(page, live=True)
    page.focus("#snapshot")
    page.keyboard.press("Tab")  # Record is the next stop
    assert page.evaluate("document.activeElement.id") == "record-toggle"
    page.keyboard.press("Enter")
    assert page.text_content("#record-toggle") == "Stop recording"
    assert re.fullmatch(r"Recording… 00:0[0-1]", page.text_content("#record-status"))
    requests_before = page.evaluate("window.__requests.length")
    page.wait_for_timeout(4000)
    assert re.fullmatch(r"Recording… 00:0[3-5]", page.text_content("#record-status"))
    page.keyboard.press("Enter")  # the focus stayed on the button
    assert page.text_content("#record-toggle") == "Record" and page.is_hidden("#record-status")
    assert page.locator("#recording-section").is_visible()
    assert "Recording stopped" in page.text_content("#message")

    assert int(page.get_attribute("#recording-chart", "data-points")) >= 3
    assert page.evaluate(PAINTED) > 1000, "the chart was not drawn"
    rows = page.locator("#recording-faces tbody tr")
    assert rows.count() == 1 and rows.first.locator("th").text_content() == "face 1"
    assert page.locator("#recording-legend li").count() == 7

    csv_name, csv_text = download(page, "#recording-csv")
    json_name, json_text = download(page, "#recording-json")
    assert re.fullmatch(r"faceinsight-live-\d{4}-\d\d-\d\d-\d{6}\.csv", csv_name)
    assert json_name == csv_name.replace(".csv", ".json")
    table = list(csv.reader(io.StringIO(csv_text)))
    assert table[0] == [*CSV_FIELDS, *SHOWN_COLUMNS]  # the video CSV's layout, then as shown
    readings = [dict(zip(table[0], row, strict=True)) for row in table[1:] if row[CSV_FIELDS.index("age")]]
    assert len(readings) >= 3
    live_ages = page.evaluate("window.__liveAges")
    for reading in readings:
        assert min(live_ages) <= float(reading["age"]) <= max(live_ages)
        assert min(live_ages) - 0.1 <= float(reading["shown_age"]) <= max(live_ages) + 0.1
        assert reading["track"] == "1" and reading["gender"] in ("male", "female")
    times = [float(reading["time_s"]) for reading in readings]
    assert times == sorted(times) and 2.5 < times[-1] - times[0] < 6

    session = json.loads(json_text)
    assert sum(len(frame["faces"]) for frame in session["frames"]) == len(readings)
    assert session["summary"]["readings"] == len(readings) and len(session["tracks"]) == 1
    face = session["frames"][-1]["faces"][0]
    assert set(face["shown"]) == {"age", "age_range", "age_group", "gender", "gender_probability",
                                  "emotion", "emotion_scores"}
    # Recording sent nothing of its own: every request meanwhile was a live frame's.
    sent = page.evaluate("window.__requests")[requests_before:]
    assert sent and all(request == "/api/v1/analyze live.jpg" for request in sent), sent
    context.close()


def test_a_recording_stops_itself_after_ten_minutes(browser, server):
    context, page = open_page(browser, server)
    page.clock.install()  # the page's clock, run on at will (it also runs on by itself)
    start_camera(page, live=True)
    page.click("#record-toggle")
    page.wait_for_timeout(1000)
    page.clock.fast_forward("09:55")
    wait_until(page, "document.getElementById('record-status').textContent.includes('09:5')")
    assert page.text_content("#record-toggle") == "Stop recording"
    page.clock.fast_forward("00:06")
    wait_until(page, "document.getElementById('record-toggle').textContent === 'Record'")
    assert "limit of 10 minutes" in page.text_content("#message")
    assert page.locator("#recording-section").is_visible()
    context.close()


def test_a_recording_ends_with_live_at_its_cap_and_on_clear_session(browser, server):
    context, page = open_page(browser, server)
    start_camera(page, live=True)
    page.click("#record-toggle")
    page.wait_for_timeout(1500)
    page.uncheck("#live-toggle")  # live off: the recording stops and is shown
    assert page.locator("#recording-section").is_visible()
    assert "the live readings stopped" in page.text_content("#message")
    assert page.is_disabled("#record-toggle")

    page.check("#live-toggle")
    page.click("#record-toggle")  # a new recording hides the last
    assert page.locator("#recording-section").is_hidden()
    # A crowd fills the cap on readings: an answer of 20000 readings (one face, to be quick).
    page.evaluate("""async () => {
        const { LIVE_READINGS, announce } = await import('/static/js/events.js');
        const raw = {box: [10, 10, 50, 50], age: 30, age_range: [25, 36], age_group: '19-30',
            gender: 'female', gender_probability: 0.9, emotion: 'happy',
            emotion_scores: {angry: 0, disgust: 0, fear: 0, happy: 1, neutral: 0, sad: 0, surprise: 0}};
        const faces = Array.from({length: 20000}, () => ({...raw, id: 100, raw}));
        announce(LIVE_READINGS, {time: performance.now(), sourceFrame: null, faces});
    }""")
    wait_until(page, "document.getElementById('record-toggle').textContent === 'Record'")
    assert "limit of 20000 readings" in page.text_content("#message")
    faces = page.locator("#recording-faces tbody th").all_text_contents()
    assert "face 100" in faces

    page.click("#clear-session")  # confirmed by open_page
    wait_until(page, "document.getElementById('message').textContent.includes('Session cleared')")
    assert page.locator("#recording-section").is_hidden()
    assert page.get_attribute("#recording-csv", "href") == "#"
    context.close()
