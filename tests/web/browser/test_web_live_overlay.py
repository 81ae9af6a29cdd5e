"""The live overlay's request loop in headless Chromium (issue 11): small frames, one request
in flight at most, a slow answer makes the page skip frames rather than queue them, and boxes
drawn in video pixels. Not timed: the speed is measured by bench/bench_live.py.
"""

from __future__ import annotations

import time

import pytest
from browserhelpers import open_page, wait_until

pytestmark = pytest.mark.browser

ANSWER_DELAY_MS = 300  # every live answer is held back this long in the page

# Wraps fetch: counts live requests in flight, records each frame's size, and delays answers.
WATCH_FETCH = """(() => {
    const ANSWER_DELAY_MS = """ + str(ANSWER_DELAY_MS) + """;
    const send = window.fetch.bind(window);
    const live = window.__live = {inFlight: 0, most: 0, sent: 0, widths: [], heights: [], bytes: []};
    window.fetch = async (url, options) => {
        const file = options && options.body instanceof FormData ? options.body.get("file") : null;
        if (!String(url).endsWith("/api/v1/analyze") || !file || file.name !== "live.jpg") {
            return send(url, options);
        }
        live.inFlight += 1;
        live.most = Math.max(live.most, live.inFlight);
        live.sent += 1;
        live.bytes.push(file.size);
        createImageBitmap(file).then((bitmap) => {
            live.widths.push(bitmap.width);
            live.heights.push(bitmap.height);
        });
        try {
            const response = await send(url, options);
            await new Promise((resolve) => setTimeout(resolve, ANSWER_DELAY_MS));
            return response;
        } finally {
            live.inFlight -= 1;
        }
    };
})()"""


def test_live_sends_small_frames_one_at_a_time_and_skips_rather_than_queues(browser, server):
    context, page = open_page(browser, server, init_script=WATCH_FETCH)
    page.click("#camera-enable")
    wait_until(page, "document.getElementById('camera-video').videoWidth > 0")
    page.check("#live-toggle")
    wait_until(page, "Number(document.getElementById('camera-overlay').dataset.updates) >= 2")
    started = time.monotonic()  # before the count is read, so the time measured spans every send counted
    sent_before = page.evaluate("window.__live.sent")
    time.sleep(2.0)
    live = page.evaluate("window.__live")
    elapsed_ms = (time.monotonic() - started) * 1000
    assert live["most"] == 1, "more than one live request was in flight at once"
    # The fake camera gives 10 frames/s; with each answer 300 ms late a queue would grow:
    # the page sends only when the previous answer is in, so about one frame per answer.
    assert live["sent"] - sent_before <= elapsed_ms / ANSWER_DELAY_MS + 1
    assert live["widths"] and max(max(live["widths"]), max(live["heights"])) <= 480
    assert max(live["bytes"]) < 60_000, "live frames should be small JPEGs"
    # The boxes are drawn in the video's pixels (the frames sent were downscaled).
    size = page.evaluate("[document.getElementById('camera-overlay').width, "
                         "document.getElementById('camera-video').videoWidth]")
    assert size[0] == size[1] > max(live["widths"])
    assert int(page.get_attribute("#camera-overlay", "data-faces")) >= 1
    # Off: no more frames, and a late answer draws nothing.
    page.uncheck("#live-toggle")
    stopped = page.evaluate("window.__live.sent")
    time.sleep(ANSWER_DELAY_MS * 2 / 1000)
    assert page.evaluate("window.__live.sent") == stopped
    assert page.get_attribute("#camera-overlay", "data-faces") == "0"
    context.close()
