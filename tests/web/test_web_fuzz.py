"""Fuzzing the HTTP API through Flask's test client: whatever arrives, never a 5xx.

Hypothesis sends damaged photos and arbitrary bytes with random file names, content types and
form flags; random JSON bodies and data URLs; raw bodies under random content types; and damaged
videos. Every answer must be JSON, below 500, and an error must carry its message. A video that
is accepted must end as ``done`` or ``failed`` with a reason. The case counts are bounded so the
module takes seconds in CI.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fuzz_strategies import damaged, hostile_bytes, photo_seeds
from hostile_inputs import HOSTILE_NAMES, multipart, send
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhelpers import wait_for_job, write_video

from faceinsight.web import create_app

PHOTO_ROUTES = ("/api/v1/analyze", "/predict")
SEEDS = photo_seeds()
PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)
BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n "
FUZZ = settings(deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])

names = st.one_of(st.text(max_size=40), st.sampled_from([n.format(ext="jpg") for n in HOSTILE_NAMES]))
content_types = st.one_of(st.sampled_from(["image/jpeg", "image/png", "application/octet-stream", "",
                                           "text/html", "video/mp4", "multipart/form-data"]),
                          st.text(PRINTABLE, max_size=30))
flags = st.one_of(st.none(), st.sampled_from(["true", "false", "0", "1"]), st.text(max_size=8))
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                                         max_size=4),
                           max_leaves=10)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """One app for the module (Hypothesis runs many cases per test function)."""
    folder = tmp_path_factory.mktemp("fuzz")
    app = create_app({"TESTING": True, "FACEINSIGHT_UPLOAD_DIR": folder / "uploads",
                      "FACEINSIGHT_INSTANCE_DIR": folder / "instance", "FACEINSIGHT_SWEEP_MINUTES": 0,
                      "REDIS_URL": None, "FACEINSIGHT_MAX_PIXELS": 4_000_000})
    yield app
    app.extensions["faceinsight.jobs"].shutdown()


@pytest.fixture(scope="module")
def fuzz_client(fuzz_app):
    return fuzz_app.test_client()


def check_no_server_error(response) -> dict:
    """The answer is JSON, below 500, and an error says what went wrong."""
    assert response.status_code < 500, (response.status_code, response.get_data()[:300])
    body = response.get_json(silent=True)
    assert isinstance(body, dict), response.get_data()[:300]
    if response.status_code >= 400:
        assert isinstance(body.get("error"), str) and body["error"]
    return body


@settings(FUZZ, max_examples=120)
@given(url=st.sampled_from(PHOTO_ROUTES), data=hostile_bytes(SEEDS), name=names, content_type=content_types,
       detect=flags, store=flags)
def test_fuzzed_photo_uploads(fuzz_client, url, data, name, content_type, detect, store) -> None:
    parts = [("file", name, data, content_type)]
    parts += [(field, None, value.encode(), None) for field, value in (("detect", detect), ("store", store))
              if value is not None]
    body, multipart_type = multipart(*parts)
    answer = check_no_server_error(send(fuzz_client, url, (body, multipart_type)))
    if url == PHOTO_ROUTES[0] and "faces" in answer:
        assert isinstance(answer["faces"], list)


@settings(FUZZ, max_examples=80)
@given(url=st.sampled_from(PHOTO_ROUTES),
       image=st.one_of(json_values, st.text(), st.builds("data:{}".format, st.text(max_size=60)),
                       st.builds("data:{};base64,{}".format,
                                 st.sampled_from(["image/jpeg", "image/png", "image/", "text/plain", ""]),
                                 st.text(BASE64_ALPHABET, max_size=200))),
       extra=st.dictionaries(st.sampled_from(["detect", "store", "name", "other"]), json_values, max_size=3))
def test_fuzzed_json_bodies(fuzz_client, url, image, extra) -> None:
    body = json.dumps({"image": image, **extra}).encode()
    check_no_server_error(send(fuzz_client, url, (body, "application/json")))


@settings(FUZZ, max_examples=60)
@given(url=st.sampled_from([*PHOTO_ROUTES, "/api/v1/videos"]), body=st.binary(max_size=2048),
       content_type=st.one_of(content_types, st.builds("multipart/form-data; boundary={}".format,
                                                       st.text(PRINTABLE, max_size=20))))
def test_fuzzed_raw_bodies(fuzz_client, url, body, content_type) -> None:
    check_no_server_error(send(fuzz_client, url, (body, content_type)))


@pytest.fixture(scope="module")
def video_seeds(tmp_path_factory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("fuzz-videos")
    return [write_video(folder / "a.avi", frames=6, side=64).read_bytes(),
            write_video(folder / "b.mp4", frames=6, side=64, fourcc="mp4v").read_bytes()]


def test_fuzzed_videos(fuzz_client, video_seeds: list[bytes]) -> None:
    """Damaged videos: refused with a 4xx, or accepted and then done or failed with a reason."""

    @settings(FUZZ, max_examples=25)
    @given(data=damaged(video_seeds, max_edits=2), name=st.sampled_from(["v.avi", "v.mp4", "v.mov", "v"]),
           sample_fps=st.one_of(st.none(), st.sampled_from(["1", "2", "5"]), st.text(max_size=6)))
    def run(data: bytes, name: str, sample_fps: str | None) -> None:
        parts = [("file", name, data, "video/mp4")]
        if sample_fps is not None:
            parts.append(("sample_fps", None, sample_fps.encode(), None))
        response = send(fuzz_client, "/api/v1/videos", multipart(*parts))
        answer = check_no_server_error(response)
        if response.status_code == 202:
            state = wait_for_job(fuzz_client, answer["url"], timeout=60)
            assert state["status"] == "done" or (state["status"] == "failed" and state["error"]), state
            assert fuzz_client.delete(answer["url"]).status_code == 200

    run()
    jobs = Path(fuzz_client.application.config["FACEINSIGHT_UPLOAD_DIR"]) / "jobs"
    assert not jobs.exists() or not list(jobs.iterdir()), "a fuzzed video left files behind"
