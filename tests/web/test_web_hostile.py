"""Hostile and odd input through Flask's test client: every case of the catalogue gets its own
clear JSON answer (4xx with a message, or 200 for odd-but-valid images), never a 5xx, and the
server goes on answering. Also file names, limits from the environment, and the web page's code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hostile_inputs import (
    HOSTILE_NAMES,
    Case,
    file_part,
    jpeg,
    photo_cases,
    send,
    small_video,
    video_cases,
)
from webhelpers import keep_captures, wait_for_job

from faceinsight.web import create_app

PHOTO_ROUTES = ("/api/v1/analyze", "/predict")
ROOT = Path(__file__).resolve().parents[2]


def check_answer(response, case: Case) -> None:
    """The status the catalogue promises, as JSON; errors carry their message."""
    body = response.get_json(silent=True)
    assert response.status_code == case.status, (case.label, response.status_code, body)
    assert isinstance(body, dict), (case.label, response.get_data()[:200])
    if case.status >= 400:
        assert set(body) == {"error"} and case.words in body["error"], (case.label, body)
    elif case.face:  # an odd format, read right: the astronaut's face is found in it
        assert body["faces"], (case.label, body)


@pytest.mark.parametrize("url", PHOTO_ROUTES)
@pytest.mark.parametrize("case", photo_cases(), ids=lambda case: case.label)
def test_photo_routes_answer_every_case(client, url: str, case: Case) -> None:
    check_answer(send(client, url, case.build()), case)
    assert client.get("/health").status_code == 200


def test_video_route_answers_every_case(client, tmp_path: Path) -> None:
    for case in video_cases(tmp_path):
        check_answer(send(client, "/api/v1/videos", case.build()), case)
    assert client.get("/health").status_code == 200
    jobs = client.application.config["FACEINSIGHT_UPLOAD_DIR"] / "jobs"
    assert not jobs.exists() or not list(jobs.iterdir()), "a refused video left files behind"


def test_over_long_and_too_large_videos(app_config: dict, tmp_path: Path) -> None:
    video = small_video(tmp_path, frames=30)  # 3 s at 10 frames/s
    limited = create_app({**app_config, "FACEINSIGHT_VIDEO_MAX_SECONDS": 2.0}).test_client()
    too_long = send(limited, "/api/v1/videos", file_part(video, "long.avi"))
    assert too_long.status_code == 422 and "limit is 2 s" in too_long.get_json()["error"]
    small = create_app({**app_config, "FACEINSIGHT_MAX_VIDEO_MB": len(video) / 2 / 2**20}).test_client()
    too_big = send(small, "/api/v1/videos", file_part(video, "big.avi"))
    assert too_big.status_code == 413 and "limit" in too_big.get_json()["error"]


def test_video_frames_over_the_pixel_limit_are_refused(app_config: dict, tmp_path: Path) -> None:
    client = create_app({**app_config, "FACEINSIGHT_MAX_PIXELS": 64 * 64}).test_client()
    response = send(client, "/api/v1/videos", file_part(small_video(tmp_path), "wide.avi"))  # 96 x 96
    assert response.status_code == 422 and "96x96" in response.get_json()["error"]


@pytest.mark.parametrize("url", PHOTO_ROUTES)
def test_over_size_photo_and_data_url_are_413(app_config: dict, url: str) -> None:
    client = create_app({**app_config, "FACEINSIGHT_MAX_PHOTO_MB": 0.01}).test_client()
    too_big = send(client, url, file_part(jpeg(), "big.jpg"))
    assert too_big.status_code == 413 and "limit" in too_big.get_json()["error"]
    as_json = client.post(url, json={"image": "data:image/jpeg;base64," + "A" * 40_000})
    assert as_json.status_code == 413


@pytest.mark.parametrize("sent", HOSTILE_NAMES)
def test_hostile_photo_names_are_kept_cleaned_and_never_used_as_paths(client, app_config, sent: str) -> None:
    keep_captures(client)
    response = send(client, "/api/v1/analyze", file_part(jpeg(), sent.format(ext="jpg")))
    assert response.status_code == 200
    listing = client.get("/session/captures").get_json()["captures"]
    assert [item["name"] for item in listing] == [HOSTILE_NAMES[sent].format(ext="jpg")]
    uploads = app_config["FACEINSIGHT_UPLOAD_DIR"]
    stored = [p.relative_to(uploads).as_posix() for p in uploads.rglob("*") if p.is_file()]
    assert all(re.fullmatch(r"captures/[\w-]+/[\w-]+\.(img|json)", path) for path in stored), stored
    assert not list(uploads.parent.glob("evil*")) and not list(uploads.parent.glob("passwd*"))


def test_hostile_video_names_are_cleaned(client, app_config, tmp_path: Path) -> None:
    video = small_video(tmp_path)
    for sent, kept in HOSTILE_NAMES.items():
        response = send(client, "/api/v1/videos", file_part(video, sent.format(ext="avi"), "video/x-msvideo"))
        assert response.status_code == 202, (sent, response.get_json())
        state = wait_for_job(client, response.get_json()["url"])
        assert state["status"] == "done" and state["name"] == kept.format(ext="avi")
        assert state["results"]["video"]["name"] == kept.format(ext="avi")
    uploads = app_config["FACEINSIGHT_UPLOAD_DIR"]
    index = uploads / ".jobs-by-owner"  # each session's jobs, by job id under a hash of the session
    names = {p.name for p in uploads.rglob("*") if p.is_file() and index not in p.parents}
    assert names <= {"state.json", "results.json"} | {f"{n}.jpg" for n in range(10)}, names
    assert all(re.fullmatch(r"[0-9a-f]{32}/[0-9a-f]{32}", p.relative_to(index).as_posix())
               for p in index.rglob("*") if p.is_file())


def test_limits_come_from_the_environment_per_kind(app_config: dict, tmp_path: Path, monkeypatch) -> None:
    video = small_video(tmp_path, frames=20)
    assert len(video) > len(jpeg())
    config = {k: v for k, v in app_config.items() if not k.startswith("FACEINSIGHT_MAX")}
    photo_limit = (len(jpeg()) - 1000) / 2**20  # just under the photo; the video is larger still
    monkeypatch.setenv("FACEINSIGHT_MAX_PHOTO_MB", f"{photo_limit:.6f}")
    monkeypatch.setenv("FACEINSIGHT_MAX_VIDEO_MB", "50")
    client = create_app(config).test_client()
    assert send(client, "/api/v1/analyze", file_part(jpeg(), "a.jpg")).status_code == 413
    accepted = send(client, "/api/v1/videos", file_part(video, "a.avi"))
    assert accepted.status_code == 202
    wait_for_job(client, accepted.get_json()["url"])
    monkeypatch.setenv("FACEINSIGHT_MAX_VIDEO_MB", f"{len(video) / 2 / 2**20:.6f}")
    monkeypatch.setenv("FACEINSIGHT_MAX_PHOTO_MB", "10")
    client = create_app(config).test_client()
    assert send(client, "/api/v1/videos", file_part(video, "a.avi")).status_code == 413
    assert send(client, "/api/v1/analyze", file_part(jpeg(), "a.jpg")).status_code == 200


def test_page_code_never_inserts_markup() -> None:
    """Names and messages reach the page only as text: no innerHTML, eval or inline handlers."""
    sources = list((ROOT / "static").rglob("*.js")) + [ROOT / "templates" / "index.html"]
    forbidden = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|"
                           r"new Function\(|\son[a-z]+=")
    comments = re.compile(r"/\*.*?\*/|(?<![:\\])//[^\n]*|<!--.*?-->", re.DOTALL)
    for path in sources:
        text = comments.sub("", path.read_text())
        assert not forbidden.search(text), f"{path.name}: {forbidden.search(text).group()}"
