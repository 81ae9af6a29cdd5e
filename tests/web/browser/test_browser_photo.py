"""The Photo tab in headless Chromium: dropped and chosen photos, their boxed pictures, cards
and messages, photos the browser shrinks or cannot show, and the labels drawn over faces.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from browserhelpers import PHONE, drop_photos, open_page, wait_until
from webhelpers import astronaut, encode

pytestmark = pytest.mark.browser


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


def test_a_photo_says_faces_were_left_out_only_when_they_were(browser, server):
    """Issue 26: 20 faces said "the largest; smaller ones were left out" though none was.
    Now 20 or 25 faces read of as many found say nothing of it; 100 read of 130 say so."""
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
