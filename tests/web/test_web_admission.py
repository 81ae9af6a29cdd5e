"""Load shedding and client deadlines (faceinsight/web/admission.py): a bounded number of
analyses, a fast 503 beyond the queue, no analysis for a client that left, no thread held by a
client that sends too slowly."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest
from webhelpers import upload

from faceinsight.web import admission, create_app
from faceinsight.web.admission import (
    AnalysisGate,
    ClientGoneError,
    DeadlineInput,
    ServerBusyError,
    SlowUploadError,
    client_gone,
)


def hold_slots(gate: AnalysisGate, count: int) -> tuple[threading.Event, list[threading.Thread]]:
    """``count`` threads that each take a slot of ``gate`` and keep it until the event is set."""
    release, holding = threading.Event(), threading.Barrier(count + 1)

    def hold() -> None:
        with gate.slot():
            holding.wait()
            release.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(count)]
    for thread in threads:
        thread.start()
    holding.wait(10)
    return release, threads


def wait_in_queue(gate: AnalysisGate) -> None:
    """Wait for a slot of ``gate``, then give it back at once."""
    with gate.slot():
        pass


def test_the_gate_queues_up_to_its_places_then_says_busy_with_a_retry_time() -> None:
    gate = AnalysisGate(running=1, waiting=1, wait_s=5)
    release, threads = hold_slots(gate, 1)
    waited = []

    def wait_for_a_slot() -> None:
        with gate.slot():
            waited.append(True)

    waiter = threading.Thread(target=wait_for_a_slot)
    waiter.start()
    while gate.admitted < 2:
        pass
    with pytest.raises(ServerBusyError) as busy:
        with gate.slot():
            pass
    assert busy.value.retry_after_s >= 1 and "try again in" in str(busy.value)
    release.set()
    for thread in [*threads, waiter]:
        thread.join(10)
    assert waited == [True]  # the queued request got the slot once it was free


def test_a_request_that_waits_too_long_is_told_to_come_back() -> None:
    gate = AnalysisGate(running=1, waiting=5, wait_s=0.2)
    release, threads = hold_slots(gate, 1)
    with pytest.raises(ServerBusyError):
        with gate.slot():
            pass
    release.set()
    for thread in threads:
        thread.join(10)
    assert gate.admitted == 0


def test_a_wait_longer_than_allowed_is_refused_at_once() -> None:
    """Slow analyses (large photos): a request that would wait past wait_s is told so now, not
    after waiting (a burst of 38-megapixel photos had 503s after 30 s)."""
    gate = AnalysisGate(running=1, waiting=5, wait_s=3)
    gate._mean_s = 2.0  # the recent analyses took 2 s each
    release, threads = hold_slots(gate, 1)
    threads.append(threading.Thread(target=wait_in_queue, args=(gate,)))  # waits about 2 s: let in
    threads[-1].start()
    while gate.admitted < 2:
        pass
    started = time.monotonic()
    with pytest.raises(ServerBusyError) as busy:  # would wait about 4 s
        with gate.slot():
            pass
    assert time.monotonic() - started < 0.5 and busy.value.retry_after_s >= 4
    release.set()
    for thread in threads:
        thread.join(10)


def test_a_client_that_left_is_not_analysed() -> None:
    gate = AnalysisGate(running=1, waiting=1)
    ran = []
    with pytest.raises(ClientGoneError):
        with gate.slot(client_gone=lambda: True):
            ran.append(1)
    assert ran == [] and gate.admitted == 0


def test_client_gone_reads_the_connection_without_waiting() -> None:
    ours, theirs = socket.socketpair()
    environ = {admission.GUNICORN_SOCKET: ours}
    assert not client_gone(environ)  # connected, nothing sent
    theirs.sendall(b"GET /next HTTP/1.1\r\n")
    assert not client_gone(environ)  # its next request on the same connection
    assert ours.recv(100)
    theirs.close()
    assert client_gone(environ)
    ours.close()
    assert not client_gone({})  # not gunicorn: cannot tell, so analyse


def test_a_full_queue_is_a_fast_503_with_retry_after(tmp_path, astronaut_jpeg) -> None:
    app = create_app({"TESTING": True, "FACEINSIGHT_UPLOAD_DIR": tmp_path / "uploads",
                      "FACEINSIGHT_INSTANCE_DIR": tmp_path / "instance", "FACEINSIGHT_SWEEP_MINUTES": 0,
                      "FACEINSIGHT_ANALYSIS_SLOTS": 1, "FACEINSIGHT_ANALYSIS_QUEUE": 1, "REDIS_URL": None})
    gate = app.extensions["faceinsight.analysis_gate"]
    release, threads = hold_slots(gate, 1)  # the slot...
    threads.append(threading.Thread(target=wait_in_queue, args=(gate,)))  # ... and the queue place
    threads[-1].start()
    while gate.admitted < 2:
        pass
    try:
        client = app.test_client()
        for route in ("/api/v1/analyze", "/predict"):
            response = upload(client, astronaut_jpeg, url=route)
            assert response.status_code == 503
            assert "busy" in response.get_json()["error"]
            assert int(response.headers["Retry-After"]) >= 1
        assert client.get("/health").status_code == 200  # the gate is for analyses only
    finally:
        release.set()
        for thread in threads:
            thread.join(10)
    assert upload(app.test_client(), astronaut_jpeg).status_code == 200
    app.extensions["faceinsight.jobs"].shutdown()


def test_a_read_slower_than_the_floor_is_cut_off_and_answered_408() -> None:
    """A client sending a byte now and then: its read is cut once past n / min_rate seconds."""
    ours, theirs = socket.socketpair()
    body = DeadlineInput(ours.makefile("rb"), ours, 1000, min_rate=100, grace_s=0.5)
    theirs.sendall(b"x")
    started = time.monotonic()
    with pytest.raises(SlowUploadError):
        body.read(100)  # 100 bytes at 100 a second: 1 s at most
    assert 0.9 < time.monotonic() - started < 3
    ours.sendall(b"HTTP/1.1 408")  # the writing side still works for the answer
    assert theirs.recv(20) == b"HTTP/1.1 408"
    ours.close()
    theirs.close()
    assert SlowUploadError.code == 408


def test_a_read_that_keeps_to_the_floor_is_left_alone() -> None:
    ours, theirs = socket.socketpair()
    body = DeadlineInput(ours.makefile("rb"), ours, 300, min_rate=100, grace_s=0.5)
    theirs.sendall(b"y" * 300)
    assert body.read(300) == b"y" * 300
    plain = DeadlineInput(io.BytesIO(b"z" * 10), None, 10, min_rate=100, grace_s=0.5)
    assert plain.read() == b"z" * 10  # no socket (not gunicorn): read as it is
    ours.close()
    theirs.close()
