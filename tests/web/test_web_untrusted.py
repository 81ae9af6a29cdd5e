"""Untrusted media cannot crash, hang or bloat a server process (issue 12).

Videos are probed and read in a child process with CPU and memory limits; a child that crashes,
hangs or runs out of memory gives the client a 422 and leaves nothing on disk. Images are
refused from their header when their shape or scan count would make decoding or detection
unbounded.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_inputs import file_part, jpeg, multipart, send, small_video
from media_bombs import bottom_up_avi, jpeg_with_empty_scans, thin_png
from webhelpers import astronaut, data_url, encode, keep_captures, page_csrf, wait_for_job

from faceinsight.images import (
    DEFAULT_MAX_PIXELS,
    MAX_JPEG_SCANS,
    ImageRefusedError,
    ImageTooLargeError,
    count_jpeg_scans,
    decode_image,
)
from faceinsight.jobs.access import token_hash
from faceinsight.video import decoder
from faceinsight.video.decoder import VideoError, probe
from faceinsight.web.security import CSRF_HEADER
from faceinsight.web.videos import TOKEN_HEADER


def send_with(client, url: str, body: tuple[bytes, str | None], headers: dict[str, str]):
    """POST a raw body with its Content-Type and extra headers."""
    data, content_type = body
    return client.post(url, data=data, headers={"Content-Type": content_type or "", **headers})


def leftover_files(app_config: dict) -> list[Path]:
    """Every file under the test app's jobs folder."""
    jobs = app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs"
    return list(jobs.rglob("*")) if jobs.exists() else []


def stand_in_decoder(monkeypatch, code: str) -> None:
    """Replace the decoding child by ``python -c code`` (which gets the same arguments)."""
    monkeypatch.setattr(decoder, "READER_COMMAND", (sys.executable, "-c", code))


# --- a real file that crashes OpenCV's FFmpeg reader -------------------------------------------

def test_bottom_up_avi_is_probed_without_risk_to_this_process(tmp_path: Path) -> None:
    """Decoded in this process, this file aborts it (malloc_consolidate: invalid chunk size)."""
    path = tmp_path / "dib.avi"
    path.write_bytes(bottom_up_avi())
    try:
        info = probe(str(path), DEFAULT_MAX_PIXELS)
    except VideoError as error:  # the child crashed (today's OpenCV) or refused the file
        assert "decode" in str(error) or "video" in str(error)
    else:
        assert (info.width, info.height) == (96, 96)


def test_bottom_up_avi_upload_is_answered_and_the_server_stays_up(client, app_config) -> None:
    response = send(client, "/api/v1/videos", file_part(bottom_up_avi(), "capture.avi", "video/x-msvideo"))
    body = response.get_json()
    assert response.status_code in (422, 202), body
    if response.status_code == 422:
        assert body["error"].startswith("the video could not be decoded"), body
        assert leftover_files(app_config) == []
    else:
        assert wait_for_job(client, body["url"])["status"] in ("done", "failed")
    assert client.get("/health").status_code == 200
    again = send(client, "/api/v1/videos", file_part(bottom_up_avi(), "capture.avi"))
    assert again.status_code == response.status_code  # twice in a row, the same answer


# --- a decoder that crashes, hangs or fails only while reading frames ---------------------------

def test_a_crashing_decoder_is_422_and_leaves_nothing(client, app_config, tmp_path, monkeypatch) -> None:
    stand_in_decoder(monkeypatch, "import os; os.abort()")
    response = send(client, "/api/v1/videos", file_part(small_video(tmp_path), "clip.avi"))
    assert response.status_code == 422
    assert response.get_json()["error"] == "the video could not be decoded: the decoder crashed (SIGABRT)"
    assert leftover_files(app_config) == []
    assert client.get("/health").status_code == 200


def test_a_hanging_decoder_is_killed_at_its_deadline(app, app_config, tmp_path, monkeypatch) -> None:
    marker = tmp_path / "child.pid"
    stand_in_decoder(monkeypatch, f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); "
                                  "time.sleep(60)")
    app.config["FACEINSIGHT_DECODER_PROBE_SECONDS"] = 1.0
    started = time.monotonic()
    response = send(app.test_client(), "/api/v1/videos", file_part(small_video(tmp_path), "clip.avi"))
    assert time.monotonic() - started < 10
    assert response.status_code == 422 and "took too long" in response.get_json()["error"]
    assert leftover_files(app_config) == []
    pid = int(marker.read_text())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_a_decoder_crash_while_reading_frames_fails_the_job_alone(client, app_config, tmp_path,
                                                                   monkeypatch) -> None:
    stand_in_decoder(monkeypatch, "import os, sys; from faceinsight.video.decoder import child_main; "
                                  "os.abort() if sys.argv[3] == 'frames' else "
                                  "sys.exit(child_main(sys.argv[1:]))")
    response = send(client, "/api/v1/videos", file_part(small_video(tmp_path), "clip.avi"))
    assert response.status_code == 202
    state = wait_for_job(client, response.get_json()["url"])
    assert state["status"] == "failed" and "crashed (SIGABRT)" in state["error"]
    assert not [path for path in leftover_files(app_config) if path.name.startswith("video")]
    assert client.get("/health").status_code == 200


# --- the limits the child puts on itself ---------------------------------------------------------

def run_limited(code: str, cpu_s: float = 30, memory_mb: int = 2048) -> subprocess.CompletedProcess:
    """Run ``code`` in a child that first calls :func:`decoder.apply_limits`."""
    prelude = f"from faceinsight.video.decoder import apply_limits; apply_limits({cpu_s}, {memory_mb}); "
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, timeout=60,
                          cwd=decoder.IMPORT_ROOT)


def test_the_decoding_child_is_held_to_its_memory_and_cpu_limits() -> None:
    assert run_limited("bytearray(100 * 2**20)", memory_mb=512).returncode == 0
    too_much = run_limited("bytearray(1024 * 2**20)", memory_mb=512)
    assert too_much.returncode == 1 and b"MemoryError" in too_much.stderr
    spinning = run_limited("any(iter(int, 1))", cpu_s=1)  # spins, allocating nothing
    assert spinning.returncode in (-decoder.signal.SIGXCPU, -decoder.signal.SIGKILL)


@pytest.mark.parametrize("command", ["probe", "frames"])
def test_the_real_child_reports_refusals_as_records(tmp_path: Path, command: str) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoError, match="expected an mp4, mov, webm, mkv or avi container"):
        if command == "probe":
            probe(str(text), DEFAULT_MAX_PIXELS)
        else:
            list(decoder.sampled_frames(str(text), 2.0, 10**6))


# --- images: bounded work, refused from the header -----------------------------------------------

PHOTO_ROUTES = ("/api/v1/analyze", "/predict")


@pytest.mark.parametrize("url", PHOTO_ROUTES)
def test_a_jpeg_with_thousands_of_empty_scans_is_refused_before_decoding(client, url: str) -> None:
    bomb = jpeg_with_empty_scans(6000, side=1024)  # today: seconds of CPU per request, then 200
    started = time.monotonic()
    response = send(client, url, file_part(bomb, "scans.jpg"))
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"] == (
        "the image is not analysed: the JPEG has more than 100 scans; decoding it would take too "
        "long (a progressive JPEG has about 10)")
    assert time.monotonic() - started < 2


def test_ordinary_progressive_jpegs_pass_the_scan_count(client) -> None:
    progressive = encode(astronaut(), "JPEG", progressive=True)
    assert 2 <= count_jpeg_scans(progressive, MAX_JPEG_SCANS) <= 15
    assert count_jpeg_scans(jpeg(), MAX_JPEG_SCANS) == 1
    response = send(client, "/api/v1/analyze", file_part(progressive, "progressive.jpg"))
    assert response.status_code == 200 and response.get_json()["faces"]


def test_marker_bytes_inside_a_segment_are_not_counted_as_scans() -> None:
    data = jpeg()
    comment = b"\xff\xda" * 500  # a comment (COM) segment full of SOS-looking bytes
    with_comment = data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]
    assert count_jpeg_scans(with_comment, MAX_JPEG_SCANS) == 1
    assert count_jpeg_scans(jpeg_with_empty_scans(150), MAX_JPEG_SCANS) == MAX_JPEG_SCANS + 1


@pytest.mark.parametrize("url", PHOTO_ROUTES)
def test_a_thin_image_with_a_huge_side_is_413(client, url: str) -> None:
    response = send(client, url, file_part(thin_png(200_000, 200), "thin.png"))  # 40 MP: in the limit
    assert response.status_code == 413
    assert response.get_json()["error"] == ("the image is 200000x200 pixels; the longest side may be "
                                            "20,000 pixels")


@pytest.mark.parametrize("size", [(5000, 100), (100, 5000)])
def test_an_extreme_aspect_ratio_is_422(client, size: tuple[int, int]) -> None:
    response = send(client, "/api/v1/analyze", file_part(thin_png(*size), "strip.png"))
    assert response.status_code == 422
    assert response.get_json()["error"] == (f"the image is not analysed: the image is {size[0]}x{size[1]} "
                                            "pixels; one side may be at most 25 times the other")
    wide = send(client, "/api/v1/analyze", file_part(thin_png(2500, 100), "banner.png"))
    assert wide.status_code == 200  # 25:1 is still analysed


def test_the_cli_decoder_refuses_the_same_images() -> None:
    with pytest.raises(ImageRefusedError, match="more than 100 scans"):
        decode_image(jpeg_with_empty_scans(200))
    with pytest.raises(ImageTooLargeError, match="longest side"):
        decode_image(thin_png(30_000, 1_200))


# --- JSON bodies: too deep, malformed, too large however sent ------------------------------------

DEEP = b"[" * 100_000


@pytest.mark.parametrize("url", ["/api/v1/analyze", "/session/privacy"])
def test_deeply_nested_json_is_400(client, url: str) -> None:
    headers = {"Content-Type": "application/json", CSRF_HEADER: page_csrf(client)}
    response = client.post(url, data=DEEP, headers=headers)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"].endswith("the JSON is nested too deeply")
    malformed = client.post(url, data=b'{"keep": tru', headers=headers)
    assert malformed.status_code == 400 and malformed.get_json()["error"].endswith("not valid JSON")


def chunked_post(client, url: str, body: bytes, content_type: str):
    """POST a body without Content-Length, as gunicorn hands a chunked request to the app."""
    return client.post(url, input_stream=io.BytesIO(body),
                       headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"},
                       environ_base={"wsgi.input_terminated": True})


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=x"])
def test_an_oversized_chunked_body_is_413(client, content_type: str) -> None:
    body = b'{"image": "data:image/jpeg;base64,' + b"A" * (50 * 2**20) + b'"}'  # 50 MiB
    response = chunked_post(client, "/api/v1/analyze", body, content_type)
    assert response.status_code == 413, response.get_json()
    limit = client.application.config["FACEINSIGHT_MAX_PHOTO_MB"]
    # the photo limit as documented, as a file over it is told (not the body's, 4/3 of it)
    assert response.get_json()["error"] == f"the upload is too large; the limit is {limit:g} MiB"


def test_a_small_chunked_json_body_is_read(client) -> None:
    body = json.dumps({"image": data_url(jpeg())}).encode()
    response = chunked_post(client, "/api/v1/analyze", body, "application/json")
    assert response.status_code == 200 and response.get_json()["faces"]


# --- video jobs are private to their owner --------------------------------------------------------

def job_urls(state: dict) -> list[str]:
    """Every readable URL of a finished job: status, both downloads, a frame."""
    links = state["links"]
    return [links["self"], links["json"], links["csv"], links["frame"].replace("{frame}", "0")]


def test_only_the_owner_or_the_token_holder_sees_or_deletes_a_job(app, client, tmp_path) -> None:
    created = send(client, "/api/v1/videos", file_part(small_video(tmp_path), "mine.avi")).get_json()
    state = wait_for_job(client, created["url"])
    assert state["status"] == "done" and "token_hash" not in state and created["token"] not in str(state)
    stranger, cookieless = app.test_client(), app.test_client()
    stranger.get("/")  # another browser session
    wrong = {TOKEN_HEADER: created["token"][:-2] + "xx"}
    for url in job_urls(state):
        assert client.get(url).status_code == 200, url
        assert stranger.get(url).status_code == 404, url
        assert cookieless.get(url).status_code == 404, url
        assert cookieless.get(url, headers=wrong).status_code == 404, url
        assert cookieless.get(url, headers={TOKEN_HEADER: created["token"]}).status_code == 200, url
    assert stranger.delete(created["url"]).status_code == 404
    assert cookieless.delete(created["url"], headers=wrong).status_code == 404
    assert client.get(created["url"]).status_code == 200  # still there
    assert cookieless.delete(created["url"], headers={TOKEN_HEADER: created["token"]}).status_code == 200
    assert client.get(created["url"]).status_code == 404


def test_the_token_is_stored_only_as_a_hash(app, client, app_config, tmp_path) -> None:
    created = send(client, "/api/v1/videos", file_part(small_video(tmp_path), "mine.avi")).get_json()
    wait_for_job(client, created["url"])
    stored = (app_config["FACEINSIGHT_UPLOAD_DIR"] / "jobs" / created["id"] / "state.json").read_text()
    assert created["token"] not in stored and token_hash(created["token"]) in stored
    assert len(created["token"]) >= 40


# --- no-store on private responses; Origin checked on calls made with the cookie ------------------

def test_kept_captures_and_job_frames_are_no_store(client, tmp_path) -> None:
    keep_captures(client)
    stored = send(client, "/api/v1/analyze", file_part(jpeg(), "me.jpg")).get_json()["stored"]
    created = send(client, "/api/v1/videos", file_part(small_video(tmp_path), "v.avi")).get_json()
    state = wait_for_job(client, created["url"])
    for url in [stored["url"], "/", "/session/captures", *job_urls(state)]:
        response = client.get(url)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", url
    assert "no-store" not in client.get("/static/app.css").headers.get("Cache-Control", "")


EVIL = {"Origin": "https://evil.example"}


def test_cross_origin_calls_with_the_cookie_are_403_and_change_nothing(client, app_config, tmp_path) -> None:
    token = keep_captures(client)
    photo = send_with(client, "/api/v1/analyze", file_part(jpeg(), "me.jpg"), EVIL)
    video = send_with(client, "/api/v1/videos", file_part(small_video(tmp_path), "v.avi"), EVIL)
    privacy = client.post("/session/privacy", json={"keep": False}, headers={CSRF_HEADER: token, **EVIL})
    for response in (photo, video, privacy):
        assert response.status_code == 403
        assert response.get_json()["error"].startswith("cross-origin request refused")
    uploads = app_config["FACEINSIGHT_UPLOAD_DIR"]
    assert not list(uploads.rglob("*.img")) and not list(uploads.rglob("state.json"))
    assert client.get("/session/captures").get_json()["keep"] is True
    sneaky = send_with(client, "/api/v1/analyze", file_part(jpeg(), "me.jpg"), {"Origin": "null"})
    assert sneaky.status_code == 403
    no_origin = send_with(client, "/api/v1/analyze", file_part(jpeg(), "me.jpg"),
                          {"Sec-Fetch-Site": "cross-site"})
    assert no_origin.status_code == 403


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("POST", "/api/v1/analyze", EVIL), ("POST", "/nowhere", {}), ("PUT", "/api/v1/analyze", {})])
def test_a_body_refused_unread_is_read_to_its_end(app, client, method: str, path: str,
                                                  headers: dict) -> None:
    """A 403, 404 or 405 answered before the body was read: the body is read to its end once
    the answer is sent, so the connection serves the next request (gunicorn drains 64 KiB,
    then closes it)."""
    client.get("/")  # the session cookie: the origin check applies
    body = io.BytesIO(os.urandom(1 << 20))
    response = client.open(path, method=method, input_stream=body, headers=headers,
                           content_type="application/octet-stream", content_length=1 << 20)
    assert response.status_code in (403, 404, 405)
    response.close()  # the server closes the answer once it is sent: then the body is read
    assert body.tell() == 1 << 20


def test_same_origin_and_cookieless_calls_are_served(app, client, tmp_path) -> None:
    client.get("/")
    same = send_with(client, "/api/v1/analyze", file_part(jpeg(), "me.jpg"), {"Origin": "http://localhost"})
    assert same.status_code == 200
    created = send_with(client, "/api/v1/videos", file_part(small_video(tmp_path), "v.avi"),
                        {"Origin": "http://localhost"}).get_json()
    assert client.delete(created["url"], headers=EVIL).status_code == 403
    assert client.delete(created["url"], headers={"Origin": "http://localhost"}).status_code == 200
    cookieless = send_with(app.test_client(), "/api/v1/analyze", file_part(jpeg(), "me.jpg"), EVIL)
    assert cookieless.status_code == 200  # an API client: no cookie, nothing of a user's to misuse


# --- one video field name, validated ---------------------------------------------------------------

@pytest.mark.parametrize(("field", "value", "words"), [
    ("fps", "2", "the sampling rate field is called 'sample_fps', not 'fps'"),
    ("sample_fps", "-1", "'sample_fps' must be frames per second written as a plain decimal"),
    ("sample_fps", "NaN", "'sample_fps' must be frames per second written as a plain decimal"),
    ("sample_fps", "abc", "'sample_fps' must be frames per second written as a plain decimal"),
    ("sample_fps", "1_0", "'sample_fps' must be frames per second written as a plain decimal"),
    ("sample_fps", "\uff12", "'sample_fps' must be frames per second written as a plain decimal"),
    ("sample_fps", "0", "'sample_fps' must be frames per second above 0"),
    ("sample_fps", "1e1", "'sample_fps' must be frames per second written as a plain decimal"),
])
def test_the_sampling_rate_field_is_named_and_validated(client, app_config, tmp_path, field, value,
                                                       words) -> None:
    body = multipart(("file", "v.avi", small_video(tmp_path), None), (field, None, value.encode(), None))
    response = send(client, "/api/v1/videos", body)
    assert response.status_code == 400 and response.get_json()["error"].startswith(words)
    assert leftover_files(app_config) == []


@pytest.mark.parametrize(("field", "words"), [("sample_fps", "not as a file"),
                                              ("fps", "called 'sample_fps'")])
def test_a_sampling_rate_sent_as_a_file_is_refused(client, app_config, tmp_path, field: str,
                                                   words: str) -> None:
    """``curl -F sample_fps=@rate.txt`` sent a file part, silently ignored: 2 frames/s were used."""
    body = multipart(("file", "v.avi", small_video(tmp_path), None), (field, "rate.txt", b"8", None))
    response = send(client, "/api/v1/videos", body)
    assert response.status_code == 400 and words in response.get_json()["error"]
    assert leftover_files(app_config) == []


def test_a_video_without_a_name_or_type_is_known_by_its_first_bytes(client, app_config, tmp_path) -> None:
    """``curl -F "file=@clip;filename=x"`` (no extension, no type) got 415, though the video's
    content is checked anyway; a photo sent so is read. Anything else stays refused."""
    video = send(client, "/api/v1/videos", multipart(("file", "x", small_video(tmp_path), None)))
    assert video.status_code == 202, video.get_json()
    assert wait_for_job(client, video.get_json()["url"])["status"] == "done"
    photo = send(client, "/api/v1/videos", multipart(("file", "x", jpeg(), None)))
    assert photo.status_code == 415 and "unsupported video type" in photo.get_json()["error"]


def test_a_video_sent_as_text_is_told_how_to_send_a_file(client) -> None:
    response = send(client, "/api/v1/videos", multipart(("file", None, b"abc", None)))
    assert response.status_code == 400 and "-F file=@clip.mp4" in response.get_json()["error"]


def test_a_sampling_rate_in_the_url_or_twice_is_refused_not_ignored(client, app_config, tmp_path) -> None:
    video = small_video(tmp_path)
    in_url = send(client, "/api/v1/videos?sample_fps=5", multipart(("file", "v.avi", video, None)))
    assert in_url.status_code == 400 and "not in the URL" in in_url.get_json()["error"]
    twice = send(client, "/api/v1/videos", multipart(("file", "v.avi", video, None),
                                                     ("sample_fps", None, b"1", None),
                                                     ("sample_fps", None, b"5", None)))
    assert twice.status_code == 400 and twice.get_json()["error"] == "send one 'sample_fps'"
    assert leftover_files(app_config) == []
