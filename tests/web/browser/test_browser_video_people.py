"""People on the Video tab in headless Chromium: two people who each leave and come back twice
are two rows, each with its face cut from a frame and its tracks; the chart follows a person."""

from __future__ import annotations

import pytest
from browserhelpers import analyse_video, open_page, wait_until
from video_clips import write_two_people_coming_and_going

pytestmark = pytest.mark.browser


def test_two_people_coming_and_going_are_two_people_with_thumbnails(browser, server, tmp_path):
    clip = tmp_path / "two-people.avi"
    write_two_people_coming_and_going(clip)
    context, page = open_page(browser, server)
    analyse_video(page, clip)
    rows = page.locator("#video-tracks tbody tr")
    assert rows.count() == 2
    tracks = [rows.nth(i).locator(".person-tracks").text_content() for i in range(2)]
    assert tracks == ["tracks #1, #3, #5", "tracks #2, #4, #6"]
    assert "2 people (6 face tracks)" in page.locator("#video-summary").text_content()
    thumbs = "#video-tracks canvas.person-thumb"
    wait_until(page, f"document.querySelectorAll('{thumbs}[data-drawn]').length === 2")
    # The thumbnail is the face: not the plain grey background around it.
    spread = page.evaluate("""thumbs => [...document.querySelectorAll(thumbs)].map((c) => {
        const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let low = 255, high = 0;
        for (let i = 0; i < pixels.length; i += 4) {
          low = Math.min(low, pixels[i]); high = Math.max(high, pixels[i]);
        }
        return high - low; })""", thumbs)
    assert all(value > 100 for value in spread), spread
    assert page.locator("#chart-track option").count() == 2 and page.is_enabled("#chart-track")
    page.select_option("#chart-track", "2")
    wait_until(page, "document.getElementById('video-chart').dataset.points === '9'")
    assert "person 2" in page.locator("#video-chart").get_attribute("aria-label")
    header = page.evaluate("href => fetch(href).then((r) => r.text()).then((t) => t.split('\\n')[0])",
                           page.locator("#video-csv").get_attribute("href"))
    assert header.startswith("frame,source_frame,time_s,track,person,")
    context.close()
