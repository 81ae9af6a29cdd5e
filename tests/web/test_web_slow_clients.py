"""Slow clients against gunicorn as ``make run`` and the Procfile start it: ten connections that
send a photo's body a byte a second must not keep ``/health`` or a real photo from an answer.

(Issue 25: with 2 workers x 4 threads and no deadline, ten such clients took the server down.)
"""

from __future__ import annotations

from pathlib import Path

from live_server import slow_clients_trial, start_gunicorn, stop_gunicorn, wait_ready


def test_slow_clients_do_not_starve_health_or_a_photo(tmp_path: Path, astronaut_jpeg: bytes) -> None:
    process, url = start_gunicorn(2, 16, tmp_path)  # gunicorn.conf.py's defaults
    try:
        wait_ready(url, process)
        trial = slow_clients_trial(url, astronaut_jpeg, clients=10, seconds=14)
    finally:
        stop_gunicorn(process)
    assert trial.slowest_health_s < 2.0 and trial.photo_s < 10.0
    # Past the 10 s grace each slow client was answered 408 (or its connection closed).
    assert len(trial.outcomes) == 10 and "still sending" not in trial.outcomes, trial.outcomes
    assert any(outcome.startswith("HTTP/1.1 408") for outcome in trial.outcomes), trial.outcomes
