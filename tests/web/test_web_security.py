"""Security and privacy: secret key, cookies, CSRF, headers, kept captures, sweep, file names."""

from __future__ import annotations

import os
import time

import pytest
from webhelpers import keep_captures, page_csrf, upload

from faceinsight.web import create_app
from faceinsight.web.captures import CaptureStore
from faceinsight.web.requests import clean_name
from faceinsight.web.security import CSRF_HEADER


def test_security_headers_on_every_response(client):
    for response in (client.get("/"), client.get("/health"), client.get("/nope"),
                     client.get("/static/app.css")):
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"]
        policy = headers["Permissions-Policy"]
        assert "camera=(self)" in policy and "microphone=()" in policy and "geolocation=()" in policy


def test_session_cookie_flags(client, app_config):
    cookie = client.get("/").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http on localhost by default
    secure = create_app({**app_config, "FACEINSIGHT_SECURE_COOKIES": True}).test_client()
    assert "Secure" in secure.get("/").headers["Set-Cookie"]


def test_secret_key_is_random_per_install_and_kept(app_config, tmp_path, monkeypatch):
    monkeypatch.delenv("FACEINSIGHT_SECRET_KEY", raising=False)
    first = create_app(app_config)
    key_file = app_config["FACEINSIGHT_INSTANCE_DIR"] / "secret_key"
    assert key_file.is_file() and oct(key_file.stat().st_mode)[-3:] == "600"
    assert create_app(app_config).secret_key == first.secret_key  # same install, same key
    other = create_app({**app_config, "FACEINSIGHT_INSTANCE_DIR": tmp_path / "other"})
    assert other.secret_key != first.secret_key and len(first.secret_key) >= 32
    configured = create_app({**app_config, "FACEINSIGHT_SECRET_KEY": "k" * 40})
    assert configured.secret_key == "k" * 40


def test_csrf_is_required_for_session_posts(client):
    token = page_csrf(client)
    for url, body in (("/session/privacy", {"keep": True}), ("/session/clear", {})):
        assert client.post(url, json=body).status_code == 403
        assert client.post(url, json=body, headers={CSRF_HEADER: "wrong"}).status_code == 403
        assert client.post(url, json=body, headers={CSRF_HEADER: token}).status_code == 200
    stranger = client.application.test_client()
    assert stranger.post("/session/clear", headers={CSRF_HEADER: token}).status_code == 403


def test_privacy_toggle_validates_its_field(client):
    headers = {CSRF_HEADER: page_csrf(client)}
    assert client.post("/session/privacy", json={}, headers=headers).status_code == 400
    assert client.post("/session/privacy", json={"keep": "perhaps"}, headers=headers).status_code == 400
    response = client.post("/session/privacy", json={"keep": False}, headers=headers)
    assert response.get_json() == {"keep": False}
    # a form says it in the words the other flags take, and the API's description says so
    assert client.post("/session/privacy", data={"keep": "Yes"}, headers=headers).get_json() == {"keep": True}
    assert client.post("/session/privacy", data={"keep": "perhaps"}, headers=headers).status_code == 400
    body = client.get("/api/v1/openapi.json").get_json()["paths"]["/session/privacy"]["post"]["requestBody"]
    form = body["content"]["application/x-www-form-urlencoded"]["schema"]
    assert "yes" in form["properties"]["keep"]["enum"]


def test_nothing_is_kept_by_default(client, app_config, astronaut_jpeg):
    body = upload(client, astronaut_jpeg).get_json()
    assert "stored" not in body
    assert not list(app_config["FACEINSIGHT_UPLOAD_DIR"].rglob("*.img"))


def test_kept_capture_is_served_only_to_its_session(client, app, astronaut_jpeg):
    keep_captures(client)
    body = upload(client, astronaut_jpeg, "<b>me.jpg").get_json()
    url = body["stored"]["url"]
    image = client.get(url)
    assert image.status_code == 200 and image.data == astronaut_jpeg
    assert image.headers["Content-Type"] == "image/jpeg"
    assert app.test_client().get(url).status_code == 404  # another session
    listing = client.get("/session/captures").get_json()
    assert listing["keep"] is True and listing["captures"][0]["name"] == "<b>me.jpg"
    assert upload(client, astronaut_jpeg, store="false").get_json().get("stored") is None  # live frames


def test_clear_session_deletes_files_and_history(client, app_config, astronaut_jpeg):
    keep_captures(client)
    url = upload(client, astronaut_jpeg).get_json()["stored"]["url"]
    token = page_csrf(client)
    cleared = client.post("/session/clear", headers={CSRF_HEADER: token}).get_json()
    assert cleared["captures"] == 1
    assert client.get(url).status_code == 404
    assert not list(app_config["FACEINSIGHT_UPLOAD_DIR"].rglob("*.img"))
    assert client.get("/session/captures").get_json() == {"keep": False, "captures": [], "videos": []}


def test_age_based_sweep_removes_old_captures(tmp_path):
    store = CaptureStore(tmp_path)
    owner = "a" * 22
    fresh = store.save(owner, b"new", "new.jpg", {})
    old = store.save(owner, b"old", "old.jpg", {})
    past = time.time() - 7200
    for suffix in (".img", ".json"):
        os.utime(tmp_path / "captures" / owner / f"{old}{suffix}", (past, past))
    assert store.sweep(max_age_s=3600) == 1
    assert store.path(owner, old) is None and store.path(owner, fresh) is not None
    assert store.sweep(max_age_s=0, now=time.time() + 10) == 1
    assert not (tmp_path / "captures" / owner).exists()


def test_sweeper_runs_from_requests(app_config, astronaut_jpeg, monkeypatch):
    app = create_app({**app_config, "FACEINSIGHT_SWEEP_MINUTES": 0.001})
    calls = []
    monkeypatch.setattr(app.extensions["faceinsight.sweeper"], "run", lambda: calls.append(1))
    monkeypatch.setattr("threading.Thread.start", lambda self: self._target())
    app.test_client().get("/health")
    assert calls == [1]


@pytest.mark.parametrize(("raw", "clean"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("a\x00b.jpg", "ab.jpg"),
    ("<script>alert(1)</script>.jpg", "script>.jpg"),
    ("..", ""),
    (".hidden.jpg", "hidden.jpg"),
    (None, ""),
    ("x" * 150 + ".jpeg", "x" * 95 + ".jpeg"),  # a long name keeps its extension
    ("y" * 150, "y" * 100),
    ("z" * 50 + "." + "e" * 60, "z" * 50 + "." + "e" * 49),  # no extension worth keeping
])
def test_file_names_are_cleaned(raw, clean):
    assert clean_name(raw) == clean


def test_a_photo_with_a_long_name_is_analysed(client, astronaut_jpeg):
    """Phones and downloads make long names; the type comes from the end of the name."""
    name = "2024.06.01 " + "family holiday at the beach with grandma and the kids " * 2 + ".jpg"
    response = upload(client, astronaut_jpeg, name)
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["faces"]) == 1


def test_page_escapes_and_has_no_inline_script(client):
    html = client.get("/").get_data(as_text=True)
    assert "<script>" not in html
    assert 'script src="/static/theme.js"' in html and 'type="module"' in html
