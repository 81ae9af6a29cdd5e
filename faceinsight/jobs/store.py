"""The video jobs' file store, shared by every process and both runners.

A job's folder ``<uploads>/jobs/<id>/`` holds everything about it: ``state.json`` (a
:class:`JobState`), ``results.json``, ``spec.json`` while it is unfinished (its
:class:`~faceinsight.jobs.spec.JobSpec`), the sampled frames used for seeking, a ``cancel``
flag, and the uploaded video while it is analysed (deleted afterwards unless the user keeps
captures). Every gunicorn worker, a restarted server and the RQ workers (which see the upload
folder at the same path) read and write the same files. Beside the jobs folder, two indexes
(folders of empty files) list the unfinished jobs and each session's jobs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from faceinsight.contract import VideoJobFields, VideoResults
from faceinsight.files import write_private
from faceinsight.jobs.access import valid_job_id
from faceinsight.jobs.liveness import RunnerRecord
from faceinsight.jobs.spec import JobSpec
from faceinsight.video.decoder import DecoderLimits

log = logging.getLogger(__name__)

FINISHED = frozenset({"done", "failed", "cancelled"})
UNFINISHED = frozenset({"queued", "running"})
# A running job writes its state after every analysed frame. The decoding child gives up after
# DecoderLimits.stall_s without a frame (the job then fails, recorded), and analysing one frame
# takes well under a second even at the pixel and face limits, so a job silent for twice the
# stall limit has lost the process that ran it.
STALE_RUNNING_S = 2 * DecoderLimits.stall_s
JOBS = "jobs"
ACTIVE = ".jobs-active"  # the index of unfinished jobs, beside the jobs folder (which it leaves
# to job folders alone: a refused upload leaves nothing there)
BY_OWNER = ".jobs-by-owner"  # the index of each session's jobs: <hash of the session>/<job id>
TRASH_PREFIX = ".removed-"  # a job folder being removed (never a valid job id)


class JobState(VideoJobFields):
    """A video job's state as its folder keeps it: what a client sees
    (:class:`~faceinsight.contract.VideoJobFields`, written once there) and what only the
    server reads. Checked when written and when read.

    :param owner: the session that may read and delete the job ("" for none).
    :param token_hash: the hash of the job's token (:func:`~faceinsight.jobs.access.token_hash`).
    :param client: a cookieless sender's keyed address, for fair shares ("" for a session's).
    :param updated: when the state was last written (the silence rule, the lifetime).
    :param ttl_s: the job is removed this long after its last update.
    :param runner: who runs it (to tell a job still running from a lost one).
    :param attempts: how many times it was started (a job is restarted after a server restart).
    :param started: when the current attempt began running.
    :param finished: when it ended.
    """

    owner: str = ""
    token_hash: str = ""
    client: str = ""
    updated: float
    ttl_s: float
    runner: RunnerRecord | None = None
    attempts: int = 1
    started: float | None = None
    finished: float | None = None

    def revised(self, **fields: Any) -> JobState:
        """This state with some fields changed, checked as a new one is."""
        return JobState.model_validate({**self.model_dump(), **fields})


def is_stopped(state: JobState | None, now: float, stale_s: float = STALE_RUNNING_S) -> bool:
    """Whether a job reads as running but has been silent too long to still be running.

    :param state: the job's state (None when gone).
    :param now: the current time.
    :param stale_s: the silence after which a running job is taken as stopped.
    """
    return state is not None and state.status == "running" and now - state.updated > stale_s


def remove_tree(path: Path, tries: int = 3) -> None:
    """Remove a folder, again if a file appeared in it meanwhile (a worker's last write)."""
    for _ in range(tries):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.05)


def _write_json(path: Path, value: Any) -> None:
    """Atomically replace a private JSON file (nothing half-written is left on a full disk)."""
    write_private(path, json.dumps(value).encode())


class JobStore:
    """Job state, results and cancel flags as files in each job's folder (both backends).

    :param root: the jobs folder, ``<uploads>/jobs``.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.active_root = self.root.parent / ACTIVE
        self.owners_root = self.root.parent / BY_OWNER
        self._lock = threading.Lock()

    def folder(self, job_id: str) -> Path:
        """The job's folder (the id must have been checked with :func:`valid_job_id`)."""
        return self.root / job_id

    def create(self, state: JobState) -> None:
        """Write a job's state (a new job's, or one replaced whole).

        :param state: the state, with its ``id``.
        """
        _write_json(self.folder(state.id) / "state.json", state.model_dump(mode="json"))

    def load(self, job_id: str) -> JobState | None:
        """A job's state, or None when it is gone, unreadable or not a :class:`JobState`."""
        try:
            return JobState.model_validate_json((self.folder(job_id) / "state.json").read_bytes())
        except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
            return None

    def update(self, job_id: str, **fields: Any) -> bool:
        """Merge fields into a job's state; False (and nothing written) if the job is gone.

        :param job_id: the job.
        :param fields: the state's new values.
        """
        with self._lock:  # read-modify-write within this process (one worker writes a job)
            state = self.load(job_id)
            if state is None:
                return False
            try:
                self.create(state.revised(**{**fields, "updated": time.time()}))
            except FileNotFoundError:
                return False  # deleted meanwhile
            return True

    def fail_if_stopped(self, job_id: str, now: float, reason: str) -> JobState | None:
        """Record a stopped job (:func:`is_stopped`) as failed; its new state, or None if it is
        not (or no longer) such a job. Re-checked under the lock, so a job that has just
        reported progress is left running.

        :param job_id: the job.
        :param now: the current time (when the job is judged; the record gets the real time).
        :param reason: the error to record.
        """
        with self._lock:
            state = self.load(job_id)
            if not is_stopped(state, now):
                return None
            if not state.keep:  # gone before the state says failed
                self.remove_upload(job_id)
            self.drop_run_files(job_id)
            stamp = time.time()
            state = state.revised(status="failed", error=reason, finished=stamp, updated=stamp)
            try:
                self.create(state)
            except FileNotFoundError:
                return None  # deleted meanwhile
            except OSError as error:  # still reads as failed: the check repeats on the next read
                log.error("could not record that video job %s stopped: %s", job_id, error)
            return state

    def save_spec(self, job_id: str, spec: JobSpec) -> None:
        """Keep what the job runs from, so that a restarted server can run it again."""
        _write_json(self.folder(job_id) / "spec.json", spec.to_dict())

    def load_spec(self, job_id: str) -> JobSpec | None:
        """The job's spec (:meth:`save_spec`), or None when gone or unreadable."""
        try:
            return JobSpec.from_dict(json.loads((self.folder(job_id) / "spec.json").read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def mark_active(self, job_id: str) -> None:
        """List a new job in the index of unfinished jobs (``<uploads>/.jobs-active/<id>``), which fair shares
        read instead of every job's state.

        :raises OSError: the folder is not writable.
        """
        folder = self.active_root
        folder.mkdir(mode=0o700, exist_ok=True)
        (folder / job_id).touch()

    def active_states(self) -> list[JobState]:
        """The states of the unfinished jobs in the index; finished or removed ones leave it."""
        folder = self.active_root
        if not folder.is_dir():
            return []
        states = []
        for marker in folder.iterdir():
            state = self.load(marker.name) if valid_job_id(marker.name) else None
            if state is None or state.status in FINISHED:
                with contextlib.suppress(OSError):
                    marker.unlink()
            else:
                states.append(state)
        return states

    def drop_run_files(self, job_id: str) -> None:
        """Delete what only an unfinished job needs (its spec, restart claims, its place in the
        index of unfinished jobs), once it ended or is removed."""
        folder = self.folder(job_id)
        for path in [folder / "spec.json", *folder.glob("restart-*"), self.active_root / job_id]:
            with contextlib.suppress(OSError):
                path.unlink()

    def claim(self, job_id: str, attempt: int) -> bool:
        """Take the right to restart one attempt of a job, once among every process: the
        first to create the attempt's claim file wins.

        :param job_id: the job.
        :param attempt: the attempt that ended (its ``attempts`` count).
        """
        try:
            with (self.folder(job_id) / f"restart-{attempt}").open("x"):
                return True
        except OSError:  # taken by another process, or the job is gone
            return False

    def finish(self, job_id: str, keep: bool, **fields: Any) -> bool:
        """Record a job's end as :meth:`update` does, first deleting its upload (unless kept):
        no client ever reads a failed or cancelled job whose video is still on disk.

        :param job_id: the job.
        :param keep: the user keeps captures (the video stays).
        :param fields: the final state (``status`` and the rest).
        """
        if not keep:
            self.remove_upload(job_id)
        self.drop_run_files(job_id)
        return self.update(job_id, **fields)

    def remove_upload(self, job_id: str) -> None:
        """Delete the job's uploaded video (``video.<ext>``), keeping its results and frames."""
        for path in self.folder(job_id).glob("video*"):
            with contextlib.suppress(OSError):
                if path.is_file():
                    path.unlink()

    def save_results(self, job_id: str, results: VideoResults) -> None:
        """Write a finished job's results (checked once, as they were made: they are served as
        stored)."""
        _write_json(self.folder(job_id) / "results.json", results.dump())

    def load_results(self, job_id: str) -> dict | None:
        """A finished job's results (:class:`~faceinsight.contract.VideoResults` as JSON), or None."""
        try:
            return json.loads((self.folder(job_id) / "results.json").read_text())
        except (OSError, ValueError):
            return None

    def request_cancel(self, job_id: str) -> None:
        """Ask the job's worker to stop (it polls between frames)."""
        with contextlib.suppress(OSError):
            (self.folder(job_id) / "cancel").touch()

    def cancel_requested(self, job_id: str) -> bool:
        """True when the job was cancelled or removed (the worker should stop)."""
        folder = self.folder(job_id)
        return (folder / "cancel").exists() or not (folder / "state.json").exists()

    def remove(self, job_id: str) -> None:
        """Delete the job's folder and everything in it.

        The folder is first renamed out of the job's path, in one step: a worker still writing
        (its state, a frame) then finds no folder and stops, where removing in place could
        race with its writes and leave the folder, its state and a frame behind.
        """
        with contextlib.suppress(OSError):
            (self.active_root / job_id).unlink()
        state = self.load(job_id)
        if state is not None and state.owner:
            self.unmark_owned(job_id, state.owner)
        trash = self.root / f"{TRASH_PREFIX}{job_id}-{secrets.token_hex(4)}"
        try:
            self.folder(job_id).rename(trash)
        except FileNotFoundError:
            return
        except OSError:
            trash = self.folder(job_id)
        remove_tree(trash)

    def remove_trash(self) -> None:
        """Remove what a removal left (a write that landed in a renamed folder as it went)."""
        if self.root.is_dir():
            for path in self.root.glob(f"{TRASH_PREFIX}*"):
                remove_tree(path)

    def ids(self) -> list[str]:
        """Every job folder's id."""
        if not self.root.is_dir():
            return []
        return [path.name for path in self.root.iterdir() if valid_job_id(path.name)]

    def owner_folder(self, owner: str) -> Path:
        """The folder of one session's index (named by a hash: a session id is a secret)."""
        return self.owners_root / hashlib.sha256(owner.encode()).hexdigest()[:32]

    def mark_owned(self, job_id: str, owner: str) -> None:
        """List a new job in its session's index, so that listing and clearing a session read
        that session's jobs only (with 60,000 jobs on disk they read them all: 4.4 s).

        :raises OSError: the folder is not writable.
        """
        folder = self.owner_folder(owner)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        (folder / job_id).touch()

    def unmark_owned(self, job_id: str, owner: str) -> None:
        """Take a removed job out of its session's index (and the session's folder, once empty)."""
        folder = self.owner_folder(owner)
        with contextlib.suppress(OSError):
            (folder / job_id).unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty

    def index_owners(self) -> int:
        """Build the sessions' index from every job's state, once, where no index exists yet
        (jobs made before it); returns how many jobs it listed."""
        ids = self.ids()
        if self.owners_root.is_dir() or not ids:  # none yet: each is indexed as it comes
            return 0
        listed = 0
        for job_id in ids:
            state = self.load(job_id)
            if state is not None and state.owner:
                self.mark_owned(job_id, state.owner)
                listed += 1
        self.owners_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return listed

    def ids_owned_by(self, owner: str) -> list[str]:
        """The ids of one session's jobs, from its index: it costs what the session owns, not
        what the server holds. A listed job that is gone leaves the index.

        :param owner: the session id.
        """
        folder = self.owner_folder(owner)
        if not folder.is_dir():
            return []
        owned = []
        for marker in folder.iterdir():
            state = self.load(marker.name) if valid_job_id(marker.name) else None
            if state is None:
                with contextlib.suppress(OSError):
                    marker.unlink()
            elif state.owner == owner:
                owned.append(marker.name)
        return owned
