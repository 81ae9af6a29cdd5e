"""The JSON API through Flask's test client: contract, every error, never a 500.

The shipped models may be untrained placeholders, so these tests check shapes, keys, ranges and
boxes on the astronaut's face, never particular ages or emotions.
"""

from __future__ import annotations

import base64
import io

import cv2
import numpy as np
import pytest
from face_helpers import assert_face_contract, encode_heic
from openapi_spec_validator import validate
from PIL import Image
from webhelpers import astronaut, data_url, encode, overlaps_astronaut_face, upload

from faceinsight.contract import Analysis, Predict
from faceinsight.images import decode_image
from faceinsight.labels import EMOTIONS, GENDERS, whole_years
from faceinsight.litert import ModelError


def test_analyze_multipart_finds_the_astronaut(client, astronaut_jpeg):
    response = upload(client, astronaut_jpeg)
    assert response.status_code == 200
    body = response.get_json()
    Analysis.model_validate(body, strict=True)
    assert list(body) == ["faces", "faces_found", "image", "timing_ms"]
    assert body["image"] == {"width": 512, "height": 512}
    assert body["faces"], "the astronaut's face was not found"
    assert body["faces_found"] == len(body["faces"])
    for face in body["faces"]:
        assert_face_contract(face)
    assert overlaps_astronaut_face(body["faces"][0]["box"])


def test_an_iphone_heic_photo_is_read_on_every_photo_route(client):
    """HEIC, as an iPhone saves it: stored sideways with its rotation, named .heic or sent with
    only its type (as a browser does for a file named without an extension)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    heic = encode_heic(Image.fromarray(astronaut()).transpose(Image.Transpose.ROTATE_90), exif)
    for name, fields in (("IMG_0001.HEIC", {}), ("photo", {})):
        form = {"file": (io.BytesIO(heic), name, "image/heic"), **fields}
        body = client.post("/api/v1/analyze", data=form, content_type="multipart/form-data").get_json()
        assert body["image"] == {"width": 512, "height": 512}
        assert overlaps_astronaut_face(body["faces"][0]["box"]), body
        assert body["faces"][0]["gender"] == "female"
    assert client.post("/api/v1/analyze", json={"image": data_url(heic, "image/heic")}).get_json()["faces"]
    # A browser cannot show HEIC: asked, the answer carries the upright image as a JPEG to draw on.
    form = {"file": (io.BytesIO(heic), "IMG_0001.HEIC"), "preview": "true"}
    body = client.post("/api/v1/analyze", data=form, content_type="multipart/form-data").get_json()
    Analysis.model_validate(body, strict=True)
    assert body["preview"].startswith("data:image/jpeg;base64,")
    preview = decode_image(base64.b64decode(body["preview"].split(",", 1)[1]))
    assert preview.shape == (512, 512, 3)
    assert overlaps_astronaut_face(body["faces"][0]["box"])  # boxes are in the preview's pixels too
    face = preview[100:160, 200:260].mean(axis=(0, 1))
    assert face[0] > face[2] + 30  # skin, not the blue of her suit: upright, as the boxes are
    legacy = upload(client, heic, name="IMG_0001.heic", url="/predict").get_json()
    assert legacy["faces"] == 1 and legacy["gender"] == "female"


def test_a_preview_comes_only_when_asked_and_is_at_most_1600_px(client) -> None:
    wide = np.zeros((900, 3200, 3), np.uint8)
    wide[200:712, 1000:1512] = astronaut()
    photo = encode(wide)
    plain = upload(client, photo).get_json()
    assert "preview" not in plain and plain["faces"]
    asked = client.post("/api/v1/analyze", json={"image": data_url(photo), "preview": True}).get_json()
    assert decode_image(base64.b64decode(asked["preview"].split(",", 1)[1])).shape == (450, 1600, 3)
    assert asked["faces"] == plain["faces"]
    assert upload(client, photo, preview="maybe").status_code == 400
    legacy = upload(client, photo, url="/predict", preview="true").get_json()
    assert "preview" not in legacy and legacy["faces"] == 1


def test_analyze_matches_the_cli_json(client, astronaut_jpeg, tmp_path):
    from faceinsight.cli import analyse_path

    path = tmp_path / "a.jpg"
    path.write_bytes(astronaut_jpeg)
    assert upload(client, astronaut_jpeg).get_json()["faces"] == analyse_path(path, detect=True)["faces"]


def test_analyze_json_data_url(client, astronaut_jpeg):
    response = client.post("/api/v1/analyze", json={"image": data_url(astronaut_jpeg)})
    assert response.status_code == 200
    assert response.get_json()["faces"]
    shouting = data_url(astronaut_jpeg).replace("data:image/jpeg;base64,", "DATA:IMAGE/JPEG;BASE64,")
    assert client.post("/api/v1/analyze", json={"image": shouting}).get_json()["faces"]  # RFC 2397


def test_detect_false_takes_the_whole_image(client, astronaut_jpeg):
    as_json = {"image": data_url(astronaut_jpeg), "detect": False}
    for response in (upload(client, astronaut_jpeg, detect="false"),
                     client.post("/api/v1/analyze", json=as_json)):
        faces = response.get_json()["faces"]
        assert len(faces) == 1 and faces[0]["box"] == [0, 0, 512, 512]


def test_two_files_in_one_request_are_refused_not_half_answered(client, astronaut_jpeg, video_file):
    import io

    photos = {"file": [(io.BytesIO(astronaut_jpeg), "a.jpg"), (io.BytesIO(astronaut_jpeg), "b.jpg")]}
    videos = {"file": [(io.BytesIO(video_file.read_bytes()), "a.avi"), (io.BytesIO(b"x"), "b.avi")]}
    for url, form in (("/api/v1/analyze", photos), ("/api/v1/videos", videos)):
        response = client.post(url, data=form, content_type="multipart/form-data")
        assert response.status_code == 400, url
        assert response.get_json()["error"].startswith("send one file per request")


def test_detect_false_refuses_an_image_too_small_to_be_a_face(client):
    tiny = encode(np.full((1, 1, 3), 128, np.uint8), "PNG")
    response = upload(client, tiny, "dot.png", detect="false")
    assert response.status_code == 422
    assert "1x1 pixels; a face crop must be at least 20 pixels" in response.get_json()["error"]
    assert upload(client, tiny, "dot.png").get_json()["faces"] == []  # with detection: no face


def test_no_face_is_200_with_empty_list(client, blank_png):
    response = upload(client, blank_png, "blank.png")
    assert response.status_code == 200
    assert response.get_json()["faces"] == []


def test_predict_legacy_shape(client, astronaut_jpeg, blank_png):
    body = upload(client, astronaut_jpeg, url="/predict").get_json()
    Predict.model_validate(body, strict=True)
    assert list(body) == list(Predict.model_fields)
    assert isinstance(body["age"], int) and body["gender"] in GENDERS and body["emotion"] in EMOTIONS
    assert body["faces"] >= 1
    empty = upload(client, blank_png, "blank.png", url="/predict").get_json()
    assert empty == {"age": None, "gender": None, "gender_probability": None, "emotion": None, "faces": 0}


def test_a_crowd_over_the_cap_is_counted_and_predict_still_answers_for_the_largest(client, monkeypatch):
    """120 faces found: the 100 surest are read, in reading order, and the answer says 120.
    /predict answers for the largest face read, the last in reading order."""
    from faceinsight.analyze import MAX_FACES
    from faceinsight.detectors import Detection
    from faceinsight.models import get_models

    rng = np.random.default_rng(3)
    scores = rng.permutation(120) / 120 + 0.001
    detections = [Detection((10 + 60 * (i % 12), 10 + 60 * (i // 12), 40, 40), float(s))
                  for i, s in enumerate(scores)]
    detections[-1] = Detection((700, 600, 56, 56), 1.0)  # the largest, bottom right, surest
    detector = get_models().detector
    monkeypatch.setattr(detector, "detect_scored",
                        lambda image: sorted(detections, key=lambda d: d.score, reverse=True))
    noise = rng.integers(0, 256, (860, 900, 3), dtype=np.uint8)
    noise[574:574 + 239, 623:623 + 239] = cv2.resize(astronaut(), (239, 239))  # her face on the largest box
    photo = encode(noise, "PNG")
    body = upload(client, photo, "crowd.png").get_json()
    assert body["faces_found"] == 120 and len(body["faces"]) == MAX_FACES == 100
    surest = sorted(detections, key=lambda d: d.score, reverse=True)[:100]
    assert sorted(tuple(face["box"]) for face in body["faces"]) == sorted(d.box for d in surest)
    corners = [(face["box"][1] // 60, face["box"][0]) for face in body["faces"]]  # (row, x)
    assert corners == sorted(corners) and body["faces"][-1]["box"] == [700, 600, 56, 56]
    legacy = upload(client, photo, "crowd.png", url="/predict").get_json()
    assert legacy["faces"] == 120

    def reading(face: dict) -> tuple:  # what /predict says of a face
        return whole_years(face["age"]), face["gender"], face["gender_probability"], face["emotion"]

    answered = [face for face in body["faces"] if reading(face) == reading(legacy)]
    assert answered == [body["faces"][-1]]


def test_pixel_limit_is_configured_and_413(app_config):
    from faceinsight.web import create_app

    client = create_app({**app_config, "FACEINSIGHT_MAX_PIXELS": 100 * 100}).test_client()
    small = encode(np.zeros((200, 200, 3), np.uint8), "PNG")  # small file, too many pixels
    response = upload(client, small, "bomb.png")
    assert response.status_code == 413 and "pixels" in response.get_json()["error"]
    assert upload(client, encode(np.zeros((100, 100, 3), np.uint8), "PNG"), "ok.png").status_code == 200


def test_model_errors_are_503_naming_the_file(client, astronaut_jpeg, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ModelError("model file missing: models/emotion.tflite.part001")

    monkeypatch.setattr("faceinsight.analyze.get_models", broken)
    monkeypatch.setattr("faceinsight.web.pages.get_models", broken)
    response = upload(client, astronaut_jpeg)
    assert response.status_code == 503
    assert "emotion.tflite.part001" in response.get_json()["error"]
    ready = client.get("/ready")
    assert ready.status_code == 503 and "emotion.tflite.part001" in ready.get_json()["error"]


def test_health_and_ready(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.get_json() == {"status": "ready", "jobs": "thread"}


def test_unknown_routes_and_methods_are_json(client):
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.get_json() == {"error": "not found"}
    wrong = client.get("/api/v1/analyze")
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]
    assert wrong.get_json() == {"error": "method not allowed"}


def test_unexpected_errors_are_json_500_without_trace(app, client, astronaut_jpeg, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("faceinsight.web.api.analyze_bytes", explode)
    response = upload(client, astronaut_jpeg)
    assert response.status_code == 500
    assert "secret" not in response.get_data(as_text=True)


def test_openapi_document_lists_every_route(client, app):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    documented = set(spec["paths"])
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "pages.index", "api.openapi", "apidocs.api_page"):  # pages, the file
            continue
        path = rule.rule.replace("<int:frame>", "{frame}").replace("<", "{").replace(">", "}")
        assert path in documented, f"{rule.rule} is not in the OpenAPI file"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], f"{method} {path} undocumented"
    validate(spec)  # raises on an invalid document


def test_openapi_says_what_each_photo_route_does(client, astronaut_jpeg: bytes) -> None:
    """/predict was described with a "store" flag and a kept "name" it never used; the 403 of
    a cross-site call made with the page's cookie was not listed."""
    from webhelpers import keep_captures

    spec = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path, method in (("/api/v1/analyze", "post"), ("/predict", "post"), ("/api/v1/videos", "post"),
                         ("/api/v1/videos/{job_id}", "delete")):
        assert "403" in spec[path][method]["responses"], (path, method)
    forms = {path: spec[path]["post"]["requestBody"]["content"] for path in ("/api/v1/analyze", "/predict")}
    assert "store" in forms["/api/v1/analyze"]["multipart/form-data"]["schema"]["properties"]
    assert "name" in forms["/api/v1/analyze"]["application/json"]["schema"]["properties"]
    assert "store" not in forms["/predict"]["multipart/form-data"]["schema"]["properties"]
    assert "name" not in forms["/predict"]["application/json"]["schema"]["properties"]
    keep_captures(client)  # and /predict indeed keeps nothing, even for a session that keeps
    assert upload(client, astronaut_jpeg, url="/predict", store="true").status_code == 200
    assert client.get("/session/captures").get_json()["captures"] == []


def test_page_renders(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in ("Enable camera", "Capture snapshot", "Keep my captures", "Clear session", "video-chart"):
        assert text in html
    assert "<script>" not in html and "onclick" not in html  # no inline script


def test_the_page_says_what_is_stored_and_for_how_long(app_config: dict) -> None:
    from faceinsight.web import create_app

    config = {**app_config, "FACEINSIGHT_RETENTION_HOURS": 12.0, "FACEINSIGHT_JOB_TTL_MINUTES": 45.0}
    application = create_app(config)
    try:
        page = application.test_client().get("/").get_data(as_text=True)
    finally:
        application.extensions["faceinsight.jobs"].shutdown()
    assert "(then for 12 hours)" in page
    assert "deleted as soon as its analysis ends" in page and "frames 45 minutes after" in page


@pytest.mark.parametrize("flag", ["detect", "store"])
@pytest.mark.parametrize("route", ["/api/v1/analyze", "/predict"])
def test_a_flag_in_the_url_is_refused_not_ignored(client, astronaut_jpeg: bytes, route: str,
                                                  flag: str) -> None:
    """detect=false in the query string was ignored: the answer was not the one asked for."""
    response = upload(client, astronaut_jpeg, url=f"{route}?{flag}=false")
    assert response.status_code == 400
    assert response.get_json()["error"] == (f"send {flag!r} in the request body beside the image, "
                                            f"not in the URL")


def test_the_api_page_shows_every_route_and_answer(client) -> None:
    """``/api`` is the OpenAPI document for people: every route and every answer's schema."""
    document = client.get("/api/v1/openapi.json").get_json()
    page = client.get("/api")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for path, item in document["paths"].items():
        for method in ("get", "post", "delete"):
            if method in item:
                assert f"<code>{method.upper()} {path}</code>" in html
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in html
    assert "<script>" not in html  # nothing inline: the page keeps the app's CSP
