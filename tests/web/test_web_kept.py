"""The page's "Kept on the server" view: a session lists and deletes its own kept captures."""

from __future__ import annotations

from webhelpers import keep_captures, upload

from faceinsight.web.security import CSRF_HEADER


def test_a_session_deletes_one_of_its_kept_captures(client, app, app_config, astronaut_jpeg):
    token = keep_captures(client)
    first = upload(client, astronaut_jpeg, "one.jpg").get_json()["stored"]
    second = upload(client, astronaut_jpeg, "two.jpg").get_json()["stored"]
    url = f"/captures/{first['id']}"
    assert client.delete(url).status_code == 403  # no CSRF token
    stranger = app.test_client()
    stranger.get("/")
    assert stranger.delete(url, headers={CSRF_HEADER: token}).status_code in (403, 404)
    response = client.delete(url, headers={CSRF_HEADER: token})
    assert response.status_code == 200 and response.get_json() == {"deleted": first["id"]}
    assert client.get(url).status_code == 404
    listing = client.get("/session/captures").get_json()["captures"]
    assert [item["id"] for item in listing] == [second["id"]]
    assert client.delete(url, headers={CSRF_HEADER: token}).status_code == 404
    assert len(list(app_config["FACEINSIGHT_UPLOAD_DIR"].rglob("*.img"))) == 1
    assert client.delete("/captures/..%2F..%2Fsecret_key", headers={CSRF_HEADER: token}).status_code == 404
