"""A job's state and results are typed and checked: a state is a JobState when written and when
read (what is not reads as no job), a client sees only the contract's fields of it, and a
video's results are checked against the contract once, when stored: results that break it fail
the job instead of being served."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from webhelpers import accepted_video, job_state, wait_for_job

from faceinsight.contract import VideoJob
from faceinsight.jobs import runners
from faceinsight.jobs.access import new_job_id
from faceinsight.jobs.store import JOBS, JobStore


def test_a_state_that_is_not_a_job_state_reads_as_no_job(tmp_path, client, video_file) -> None:
    store = JobStore(tmp_path / JOBS)
    job_id = new_job_id()
    store.folder(job_id).mkdir(parents=True)
    store.create(job_state(job_id))
    with pytest.raises(ValidationError):
        store.update(job_id, progress=250)
    assert store.load(job_id).progress == 0, "nothing written"

    state = json.loads((store.folder(job_id) / "state.json").read_text())
    (store.folder(job_id) / "state.json").write_text(json.dumps({**state, "status": "exploded"}))
    assert store.load(job_id) is None

    created = accepted_video(client, video_file)
    wait_for_job(client, created["url"])
    path = client.application.extensions["faceinsight.jobs"].store.folder(created["id"]) / "state.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "owner": None}))
    assert client.get(created["url"]).status_code == 404, "a damaged state is no job"


def test_a_client_sees_the_contracts_fields_only(client, video_file) -> None:
    created = accepted_video(client, video_file)
    shown = wait_for_job(client, created["url"])
    assert shown["status"] == "done" and list(shown) == list(VideoJob.model_fields)
    stored = client.application.extensions["faceinsight.jobs"].store.load(created["id"])
    assert stored.owner and stored.token_hash and stored.runner is not None  # never shown


def test_results_that_break_the_contract_fail_the_job_and_are_never_served(
        client, video_file, monkeypatch) -> None:
    real = runners.analyze_video

    def negative_age(*args, **kwargs) -> dict:
        results = real(*args, **kwargs)
        results["frames"][0]["faces"][0]["age"] = -4.0
        return results

    monkeypatch.setattr(runners, "analyze_video", negative_age)
    created = accepted_video(client, video_file)
    state = wait_for_job(client, created["url"])
    assert state["status"] == "failed" and state["error"] == "internal error while analysing the video"
    folder = client.application.extensions["faceinsight.jobs"].store.folder(created["id"])
    assert not (folder / "results.json").exists()
    assert client.get(created["url"] + "/results.json").status_code == 409
