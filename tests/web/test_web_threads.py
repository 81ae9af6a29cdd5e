"""The LiteRT interpreters are not thread-safe: through the web API, under many threads at once,
every answer must be identical to the one a single thread gets for the same image.

(tests/test_models.py proves the same at the model level; this goes through request parsing,
decoding, the per-thread Haar cascades, the model locks and the JSON encoder, as gunicorn's
threads do.)
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
from webhelpers import astronaut, data_url, encode, upload

THREADS = 8
ROUNDS = 4


def requests_to_make() -> list[tuple[str, dict]]:
    """Different images and routes: (kind, arguments), each answered deterministically."""
    face = astronaut()
    small = cv2.resize(face, (256, 256), interpolation=cv2.INTER_AREA)
    crop = face[40:200, 150:300]
    return [
        ("multipart", {"data": encode(face), "name": "a.jpg"}),
        ("multipart", {"data": encode(small[:, ::-1].copy(), "PNG"), "name": "b.png"}),
        ("multipart", {"data": encode(crop), "name": "c.jpg", "detect": "false"}),
        ("json", {"image": data_url(encode(small)), "store": False}),
        ("predict", {"data": encode(small), "name": "d.jpg"}),
    ]


def answer(client, kind: str, arguments: dict) -> dict:
    """The response body without its timings (the only part allowed to differ)."""
    if kind == "json":
        response = client.post("/api/v1/analyze", json=arguments)
    else:
        url = "/predict" if kind == "predict" else "/api/v1/analyze"
        response = upload(client, url=url, **arguments)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    body.pop("timing_ms", None)
    return body


def test_answers_under_threads_match_single_threaded(app) -> None:
    cases = requests_to_make()
    expected = [answer(app.test_client(), kind, arguments) for kind, arguments in cases]
    assert any(body.get("faces") for body in expected), "no face found: the test would prove little"
    start = threading.Barrier(THREADS)

    def worker(number: int) -> list[tuple[int, dict]]:
        client = app.test_client()
        start.wait()  # all threads hit the models at the same moment
        results = []
        for round_ in range(ROUNDS):
            index = (number + round_) % len(cases)
            results.append((index, answer(client, *cases[index])))
        return results

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = [item for batch in pool.map(worker, range(THREADS)) for item in batch]
    assert len(outcomes) == THREADS * ROUNDS
    for index, body in outcomes:
        assert body == expected[index], f"request {index} answered differently under threads"
