"""The JSON API through Flask's test client: contract, every error, never a 500.

The shipped models may be untrained placeholders, so these tests check shapes, keys, ranges and
boxes on the astronaut's face, never particular ages or emotions.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from webhelpers import astronaut, encode, overlaps_astronaut_face

from faceinsight.labels import AGE_GROUPS, EMOTIONS, GENDERS
from faceinsight.models import ModelError

FACE_KEYS = ["box", "age", "age_range", "age_group", "gender", "gender_probability", "emotion",
             "emotion_scores"]


def check_face(face: dict) -> None:
    """One face has exactly the CLI's keys, in order, with values in range."""
    assert list(face) == FACE_KEYS
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
    low, high = face["age_range"]
    assert 0 <= low <= high <= 100 and 0 <= face["age"] <= 100
    assert face["age_group"] in {name for name, _, _ in AGE_GROUPS}
    assert face["gender"] in GENDERS and 0.5 <= face["gender_probability"] <= 1
    assert list(face["emotion_scores"]) == list(EMOTIONS)
    assert face["emotion"] == max(face["emotion_scores"], key=face["emotion_scores"].get)
    assert sum(face["emotion_scores"].values()) == pytest.approx(1, abs=0.01)


def upload(client, data: bytes, name: str = "face.jpg", url: str = "/api/v1/analyze", **fields):
    form = {"file": (io.BytesIO(data), name), **fields}
    return client.post(url, data=form, content_type="multipart/form-data")


def data_url(data: bytes, media: str = "image/jpeg") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def test_analyze_multipart_finds_the_astronaut(client, astronaut_jpeg):
    response = upload(client, astronaut_jpeg)
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["faces", "image", "timing_ms"]
    assert body["image"] == {"width": 512, "height": 512}
    assert set(body["timing_ms"]) == {"decode", "detect", "predict", "total"}
    assert body["faces"], "the astronaut's face was not found"
    for face in body["faces"]:
        check_face(face)
    assert overlaps_astronaut_face(body["faces"][0]["box"])


def test_analyze_matches_the_cli_json(client, astronaut_jpeg, tmp_path):
    from faceinsight.cli import analyse_path

    path = tmp_path / "a.jpg"
    path.write_bytes(astronaut_jpeg)
    assert upload(client, astronaut_jpeg).get_json()["faces"] == analyse_path(path, detect=True)["faces"]


def test_analyze_json_data_url(client, astronaut_jpeg):
    response = client.post("/api/v1/analyze", json={"image": data_url(astronaut_jpeg)})
    assert response.status_code == 200
    assert response.get_json()["faces"]


def test_detect_false_takes_the_whole_image(client, astronaut_jpeg):
    as_json = {"image": data_url(astronaut_jpeg), "detect": False}
    for response in (upload(client, astronaut_jpeg, detect="false"),
                     client.post("/api/v1/analyze", json=as_json)):
        faces = response.get_json()["faces"]
        assert len(faces) == 1 and faces[0]["box"] == [0, 0, 512, 512]


def test_no_face_is_200_with_empty_list(client, blank_png):
    response = upload(client, blank_png, "blank.png")
    assert response.status_code == 200
    assert response.get_json()["faces"] == []


def test_predict_legacy_shape(client, astronaut_jpeg, blank_png):
    body = upload(client, astronaut_jpeg, url="/predict").get_json()
    assert list(body) == ["age", "gender", "gender_probability", "emotion", "faces"]
    assert isinstance(body["age"], int) and body["gender"] in GENDERS and body["emotion"] in EMOTIONS
    assert body["faces"] >= 1
    empty = upload(client, blank_png, "blank.png", url="/predict").get_json()
    assert empty == {"age": None, "gender": None, "gender_probability": None, "emotion": None, "faces": 0}


@pytest.mark.parametrize("image", [
    np.zeros((1, 1, 3), np.uint8),  # 1x1
    (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16),  # 16-bit
])
def test_odd_but_valid_images_answer_200(client, image):
    assert upload(client, encode(image, "PNG"), "odd.png").status_code == 200


def test_cmyk_palette_alpha_and_animated_gif(client):
    rgb = astronaut()
    pil = __import__("PIL.Image", fromlist=["Image"])
    for mode, fmt in (("CMYK", "JPEG"), ("P", "PNG"), ("RGBA", "PNG")):
        buffer = io.BytesIO()
        pil.fromarray(rgb).convert(mode).save(buffer, fmt)
        assert upload(client, buffer.getvalue(), f"x.{fmt.lower()}").status_code == 200, mode
    frames = [pil.fromarray(rgb), pil.fromarray(rgb[::-1])]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    assert upload(client, buffer.getvalue(), "anim.gif").status_code == 200


@pytest.mark.parametrize(("kwargs", "status", "words"), [
    ({"data": {}}, 400, "no file"),
    ({"data": {"photo": (io.BytesIO(b"x"), "a.jpg")}}, 400, "'file'"),
    ({"data": {"file": (io.BytesIO(b""), "a.jpg")}}, 400, "empty"),
    ({"data": {"file": (io.BytesIO(b"not an image"), "a.jpg")}}, 422, "could not be read"),
    ({"data": {"file": (io.BytesIO(b"text"), "notes.txt")}}, 415, "unsupported"),
    ({"data": {"file": (io.BytesIO(b"text"), "clip.mp4")}}, 415, "unsupported"),
    ({"data": b"raw bytes", "content_type": "application/octet-stream"}, 415, "multipart"),
    ({"data": "[1, 2]", "content_type": "application/json"}, 400, "JSON body"),
    ({"data": "{not json", "content_type": "application/json"}, 400, "JSON body"),
    ({"json": {"picture": "x"}}, 400, "'image'"),
    ({"json": {"image": 42}}, 400, "data URL"),
    ({"json": {"image": "http://example.com/a.jpg"}}, 400, "data URL"),
    ({"json": {"image": "data:image/png;base64,@@@not-base64"}}, 400, "base64"),
    ({"json": {"image": "data:image/png;base64,QUJDR"}}, 400, "base64"),
    ({"json": {"image": "data:image/png,rawtext"}}, 400, "base64"),
    ({"json": {"image": "data:text/html;base64,PGI+"}}, 415, "not an image"),
    ({"json": {"image": "data:image/png;base64,"}}, 400, "no data"),
    ({"json": {"image": "data:image/png;base64,aGVsbG8=", "detect": "maybe"}}, 400, "detect"),
])
def test_bad_requests_get_clear_4xx(client, kwargs, status, words):
    response = client.post("/api/v1/analyze", **kwargs)
    assert response.status_code == status, response.get_json()
    assert words in response.get_json()["error"]


def test_truncated_images_are_422(client, astronaut_jpeg):
    png = encode(astronaut(), "PNG")
    for data, name in ((astronaut_jpeg[: len(astronaut_jpeg) // 3], "cut.jpg"), (png[:200], "cut.png")):
        response = upload(client, data, name)
        assert response.status_code == 422, (name, response.get_json())


def test_size_and_pixel_limits_are_413(app_config, astronaut_jpeg):
    from faceinsight.web import create_app

    client = create_app({**app_config, "FACEINSIGHT_MAX_PHOTO_MB": 0.01,
                         "FACEINSIGHT_MAX_PIXELS": 100 * 100}).test_client()
    response = upload(client, astronaut_jpeg)
    assert response.status_code == 413 and "limit" in response.get_json()["error"]
    big_body = client.post("/api/v1/analyze", json={"image": data_url(astronaut_jpeg)})
    assert big_body.status_code == 413
    small = encode(np.zeros((200, 200, 3), np.uint8), "PNG")  # small file, too many pixels
    response = upload(client, small, "bomb.png")
    assert response.status_code == 413 and "pixels" in response.get_json()["error"]


def test_decompression_bomb_header_is_refused_before_decoding(client):
    # A PNG whose header claims 100000 x 100000 pixels but holds almost nothing.
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + crc

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) \
        + chunk(b"IEND", b"")
    response = upload(client, bomb, "bomb.png")
    assert response.status_code == 413


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
        if rule.endpoint in ("static", "pages.index", "api.openapi"):
            continue
        path = rule.rule.replace("<int:frame>", "{frame}").replace("<", "{").replace(">", "}")
        assert path in documented, f"{rule.rule} is not in the OpenAPI file"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], f"{method} {path} undocumented"
    try:
        from openapi_spec_validator import validate
    except ImportError:
        return
    validate(spec)


def test_page_renders(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in ("Enable camera", "Capture snapshot", "Keep my captures", "Clear session", "video-chart"):
        assert text in html
    assert "<script>" not in html and "onclick" not in html  # no inline script
