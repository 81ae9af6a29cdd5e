"""Steady live readings and snapshots as seen (issue 26), in headless Chromium.

Two fake cameras made here from scikit-image's astronaut: one still face filmed with a webcam's
noise and a little sway (so that its raw readings vary from frame to frame as a real camera's
do), and two faces side by side, one in colour and one grey, placed so that the mirrored preview
puts each where the camera's own frame does not.
"""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

# The live server and Playwright are conftest.py's fixtures.
from browserhelpers import launch_chromium, open_page, wait_until, write_y4m
from webhelpers import astronaut

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 640, 480
GREY_FACE = (400, 640)  # the grey face's columns in the camera's frame: 0-240 in the mirror
COLOUR_FACE = (160, 360)  # the colour face's: 280-480 in the mirror


def still_face_frames(count: int = 20, seed: int = 0) -> list[np.ndarray]:
    """The astronaut, still, as a webcam films her: each frame a few pixels off, a few percent
    larger or smaller, its exposure and noise its own.

    :param count: frames (2 s at 10 frames/s).
    :param seed: the random generator's seed.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        side = int(HEIGHT * rng.uniform(0.96, 1.04))
        face = cv2.resize(astronaut(), (side, side))
        left = (WIDTH - side) // 2 + int(rng.integers(-6, 7))
        top = (HEIGHT - side) // 2 + int(rng.integers(-6, 7))
        canvas = np.zeros((HEIGHT, WIDTH, 3), np.float32)
        x0, y0, x1, y1 = max(0, left), max(0, top), min(WIDTH, left + side), min(HEIGHT, top + side)
        canvas[y0:y1, x0:x1] = face[y0 - top:y1 - top, x0 - left:x1 - left]
        canvas = canvas * rng.uniform(0.9, 1.1) + rng.normal(0, 6, canvas.shape)
        frames.append(np.clip(canvas, 0, 255).astype(np.uint8))
    return frames


def two_faces_frame() -> np.ndarray:
    """The astronaut's head twice: in colour (200 px) left of centre, grey (240 px) at the right
    edge. Mirrored, the grey face is at the left, where the frame itself shows nothing.

    The grey face is the larger, so that it is face 1 whether the server numbers faces by size
    or in reading order; the numbering itself is the server's and tested with it.
    """
    head = astronaut()[0:256, 100:356]
    canvas = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    grey = cv2.cvtColor(cv2.cvtColor(cv2.resize(head, (240, 240)), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    canvas[120:360, GREY_FACE[0]:GREY_FACE[1]] = grey
    canvas[140:340, COLOUR_FACE[0]:COLOUR_FACE[1]] = cv2.resize(head, (200, 200))
    return canvas


@pytest.fixture(scope="module")
def still_face_browser(playwright_api, tmp_path_factory):
    browser = launch_chromium(playwright_api, write_y4m(tmp_path_factory.mktemp("camera") / "still.y4m",
                                               still_face_frames()))
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def two_faces_browser(playwright_api, tmp_path_factory):
    browser = launch_chromium(playwright_api, write_y4m(tmp_path_factory.mktemp("camera") / "two.y4m",
                                               [two_faces_frame()] * 10))
    yield browser
    browser.close()


# The astronaut always reads happy; a face between two expressions flickers. This makes each
# live answer such a face's: happy and neutral near even, the top one changing at random (a
# seeded generator). The raw readings are recorded as the page received them.
FLICKER = """(() => {
    const send = window.fetch.bind(window);
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const raw = window.__raw = [];
    window.fetch = async (url, options) => {
        const file = options && options.body instanceof FormData ? options.body.get("file") : null;
        const response = await send(url, options);
        if (!file || file.name !== "live.jpg" || !response.ok) return response;
        const body = await response.json();
        for (const face of body.faces) {
            const happy = 0.4 + 0.2 * random();
            face.emotion_scores = {angry: 0, disgust: 0, fear: 0, happy, neutral: 1 - happy, sad: 0,
                                   surprise: 0};
            face.emotion = happy >= 0.5 ? "happy" : "neutral";
        }
        if (body.faces.length) raw.push({age: body.faces[0].age, emotion: body.faces[0].emotion});
        return new Response(JSON.stringify(body), {status: response.status, headers: response.headers});
    };
})()"""


def changes(values: list) -> int:
    return sum(a != b for a, b in zip(values, values[1:], strict=False))


def test_live_starts_with_the_camera_and_a_still_face_reads_steadily(still_face_browser, server):
    context, page = open_page(still_face_browser, server, init_script=FLICKER)
    page.click("#camera-enable")  # and nothing else: no "Live" to tick
    wait_until(page, "document.querySelector('#live-faces li') !== null")
    assert page.is_checked("#live-toggle")
    shown = []  # (age, emotion, faces listed), as the list under the preview says them
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        items = page.locator("#live-faces li").all_text_contents()
        # "1: 32 (25-40) · female 97 % · happy 51 %"
        parts = items[0].split(" · ") if items else []
        if parts:
            shown.append((int(parts[0].split()[1]), parts[2].split()[0], len(items)))
        page.wait_for_timeout(100)
    raw = page.evaluate("window.__raw")
    context.close()
    raw_ages = [item["age"] for item in raw]
    # The test means something: frame by frame the readings jump, as in the issue.
    assert len(raw) >= 10 and max(raw_ages) - min(raw_ages) > 3, raw_ages
    assert changes([item["emotion"] for item in raw]) >= 5
    ages = [age for age, _, _ in shown]
    assert max(ages) - min(ages) <= 3, ages
    assert changes([emotion for _, emotion, _ in shown]) <= 2, shown
    assert {count for _, _, count in shown} == {1}, "the one face was not followed as one"


# Keeps the snapshot's answer (its boxes) where the test can read it.
KEEP_SNAPSHOT = """(() => {
    const send = window.fetch.bind(window);
    window.fetch = async (url, options) => {
        const file = options && options.body instanceof FormData ? options.body.get("file") : null;
        const response = await send(url, options);
        if (file && file.name === "snapshot.jpg") window.__snapshot = await response.clone().json();
        return response;
    };
})()"""


def test_snapshot_shows_the_preview_as_seen_with_face_1_where_it_was(two_faces_browser, server):
    context, page = open_page(two_faces_browser, server, init_script=KEEP_SNAPSHOT)
    page.click("#camera-enable")
    wait_until(page, "document.getElementById('camera-overlay').dataset.faces === '2'")
    transforms = page.evaluate("['camera-video', 'camera-overlay'].map("
                               "id => getComputedStyle(document.getElementById(id)).transform)")
    assert transforms == ["matrix(-1, 0, 0, 1, 0, 0)", "none"]  # the boxes are drawn as seen
    live = json.loads(page.get_attribute("#camera-overlay", "data-boxes"))
    centres = [x + w / 2 for x, _, w, _ in live]
    # Live face 1 on the grey face at the preview's left, face 2 on the colour one: the boxes
    # land on the mirrored preview (unmirrored, they would lie at 160-360 and 400-640).
    assert 0 < centres[0] < WIDTH - GREY_FACE[0]
    assert WIDTH - COLOUR_FACE[1] < centres[1] < WIDTH - COLOUR_FACE[0]
    page.click("#snapshot")
    page.locator("#snapshot-result .face-card").first.wait_for()
    faces = page.evaluate("window.__snapshot.faces")
    assert page.locator("#snapshot-result .face-card h3").all_text_contents() == ["1Face 1", "2Face 2"]
    snapshot_centres = [x + w / 2 for x, _, w, _ in (face["box"] for face in faces)]
    assert snapshot_centres[0] < snapshot_centres[1]  # numbered left to right as seen
    assert abs(snapshot_centres[0] - centres[0]) < 30  # face 1 where live face 1 was
    # The snapshot shows the mirror too: grey where face 1 is, colour where face 2 is.
    colourfulness = page.evaluate("""(boxes) => {
        const c = document.getElementById('snapshot-canvas');
        return boxes.map(([x, y, w, h]) => {
            const data = c.getContext('2d').getImageData(x + w / 4, y + h / 4, w / 2, h / 2).data;
            let sum = 0;
            for (let i = 0; i < data.length; i += 4) {
                sum += Math.abs(data[i] - data[i + 1]) + Math.abs(data[i + 1] - data[i + 2]);
            }
            return sum / (data.length / 4);
        });
    }""", [face["box"] for face in faces])
    assert colourfulness[0] < 8 < 20 < colourfulness[1], colourfulness
    context.close()


def test_tracker_follows_each_face_and_steadies_its_readings(still_face_browser, server):
    """The page's face follower on answers made here: jumping ages, a flickering emotion, a face
    missed by a few answers, the answer's order changing; then a real change of expression."""
    context, page = open_page(still_face_browser, server)
    result = page.evaluate("""async () => {
        const { FaceTracker } = await import('/static/js/tracking.js');
        const tracker = new FaceTracker();
        const scores = (happy) => ({angry: 0, disgust: 0, fear: 0, happy, neutral: 1 - happy, sad: 0,
                                    surprise: 0});
        const face = (box, age, happy) => ({box, age, age_range: [age - 5, age + 5], age_group: '31-80',
            gender: 'female', gender_probability: 0.9, emotion: happy >= 0.5 ? 'happy' : 'neutral',
            emotion_scores: scores(happy)});
        const jumps = [28, 36, 30, 35, 29, 37, 31, 34];
        const steps = [];
        for (let i = 0; i < 25; i++) {  // 5 s at 5 answers a second
            const t = i * 200;
            // The larger face is on the right and comes first in the answers; it drifts.
            const right = face([300 + 2 * i, 100, 90, 90], jumps[i % 8], i % 2 ? 0.45 : 0.55);
            const left = face([100, 110, 60, 60], 50, 0.9);
            const missed = i >= 10 && i < 14;  // the left face not found for 800 ms
            const answer = missed ? [right] : (i % 3 === 1 ? [left, right] : [right, left]);
            steps.push(tracker.update(answer, t).map((f) => ({id: f.id, age: Math.round(f.age),
                emotion: f.emotion, x: f.box[0], rawAge: f.raw.age})));
        }
        // The left face leaves for good: gone once unseen for a second.
        const gone = [];
        for (let t = 5000; t <= 6200; t += 200) {
            gone.push(tracker.update([face([350, 100, 90, 90], 33, 0.5)], t).length);
        }
        // A real change: the right face turns neutral; shown within a second.
        let switched = null;
        for (let t = 6400; t <= 9000; t += 200) {
            const shown = tracker.update([face([350, 100, 90, 90], 33, 0.1)], t);
            if (switched === null && shown[0].emotion === 'neutral') switched = t - 6400;
        }
        return {steps, gone, switched};
    }""")
    context.close()
    steps = result["steps"]
    assert all(len(step) == 2 for step in steps)  # the missed face stayed, no face was doubled
    assert all([f["id"] for f in step] == [2, 1] for step in steps)  # same ids, left face first
    right = [step[1] for step in steps]
    assert max(f["age"] for f in right) - min(f["age"] for f in right) <= 3
    assert max(f["rawAge"] for f in right) - min(f["rawAge"] for f in right) == 9  # the raw reading kept
    assert changes([f["emotion"] for f in right]) == 0
    assert [f["x"] for f in right] == [300 + 2 * i for i in range(25)]  # the box: the latest
    assert result["gone"][:4] == [2, 2, 2, 2] and result["gone"][-1] == 1
    assert result["switched"] is not None and result["switched"] <= 1000
