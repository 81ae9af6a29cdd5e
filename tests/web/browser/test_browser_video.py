"""The Video tab in headless Chromium: upload and progress, the chart, its table and the frame
view, kept videos opened and deleted, and a job followed through failed checks, a reload and
a cancel.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from browserhelpers import analyse_video, open_page, wait_until
from webhelpers import astronaut, write_video

pytestmark = pytest.mark.browser


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


def test_two_shots_of_one_face_are_two_tracks_of_one_person(browser, server, tmp_path):
    colour = cv2.resize(astronaut(), (320, 320))
    grey = cv2.cvtColor(cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    path = tmp_path / "two-shots.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 320))
    for i in range(20):  # a cut after 1 s: a new shot is a new track, even in the same place
        writer.write(cv2.cvtColor(np.roll(colour if i < 10 else grey, i, axis=1), cv2.COLOR_RGB2BGR))
    writer.release()
    context, page = open_page(browser, server)
    analyse_video(page, path, fps="4")
    rows = page.locator("#video-tracks tbody tr")
    assert rows.count() == 1 and rows.first.locator(".person-tracks").text_content() == "tracks #1, #2"
    assert page.locator("#chart-track option").count() == 1 and not page.is_enabled("#chart-track")
    times = page.locator("#video-timeline tbody tr td:first-child").all_text_contents()
    assert times == ["0.00 s", "0.30 s", "0.50 s", "0.80 s", "1.00 s", "1.30 s", "1.50 s", "1.80 s"]
    assert page.locator("#video-chart").get_attribute("data-points") == "8"
    assert "person 1 (#1)" in page.locator("#video-frame-caption").text_content()
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
