"""Background video jobs: one file store, one typed spec, two ways to run them.

A job's folder ``<uploads>/jobs/<id>/`` holds everything about it: ``state.json``,
``results.json``, the sampled frames used for seeking, a ``cancel`` flag, and the uploaded video
while it is analysed (deleted afterwards unless the user keeps captures). Every gunicorn worker,
a restarted server and the RQ workers (which see the upload folder at the same path) read and
write the same files, so both backends share :class:`JobStore`:

* in-process (default): a bounded :class:`~concurrent.futures.ThreadPoolExecutor` per process;
* RQ (when ``REDIS_URL`` is set): jobs go to an RQ queue and run in ``rq worker`` processes.
  Redis holds only the queue.

A job runs from a :class:`JobSpec`, fixed at upload, which carries the facts the upload check
probed, so a video is probed once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from faceinsight.analyze import MAX_FACES
from faceinsight.files import write_private
from faceinsight.models import ModelError
from faceinsight.video import DecoderLimits, VideoCancelled, VideoError, VideoInfo, analyze_video

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
FINISHED = frozenset({"done", "failed", "cancelled"})
FRAME_MAX_SIDE = 640  # thumbnails kept for seeking; boxes stay in the video's own pixels
# A running job writes its state after every analysed frame. The decoding child gives up after
# DecoderLimits.stall_s without a frame (the job then fails, recorded), and analysing one frame
# takes well under a second even at the pixel and face limits, so a job silent for twice the
# stall limit has lost the process that ran it.
STALE_RUNNING_S = 2 * DecoderLimits.stall_s
STOPPED_REASON = "the analysis stopped unexpectedly (its worker ended)"
RESTARTED_NOTE = "restarted after a server restart"
UPLOAD_GONE_REASON = ("the server restarted during the analysis and the uploaded video was no longer "
                      "there; send it again")
TOO_MANY_RESTARTS_REASON = ("the server restarted during the analysis {0} times; the video was not "
                            "tried again")
MAX_ATTEMPTS = 3  # a video whose analysis ends its process each time is not retried for ever
# An RQ job is judged only once its state is this old: the web process writes the state just
# before it enqueues the job, and another process must not take the gap for a lost job.
RQ_GRACE_S = 30.0
CANCELLED_REASON = "the job was cancelled"
UNFINISHED = frozenset({"queued", "running"})
JOBS = "jobs"
ACTIVE = ".jobs-active"  # the index of unfinished jobs, beside the jobs folder (which it leaves
# to job folders alone: a refused upload leaves nothing there)
BY_OWNER = ".jobs-by-owner"  # the index of each session's jobs: <hash of the session>/<job id>


class JobQueueFull(RuntimeError):
    """Too many video jobs are waiting or running; the client should retry later.

    :param message: what the client is told.
    :param retry_after_s: about when a place frees (see :func:`wait_estimate_s`); 0 when the
        raiser cannot tell (the web tier then estimates it).
    """

    def __init__(self, message: str, retry_after_s: int = 0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class JobShareFull(JobQueueFull):
    """One session (or cookieless client) already has its share of waiting or running jobs."""


@dataclass(frozen=True)
class Share:
    """Whose jobs count against one limit: a session's, or a cookieless client's.

    :param field: the job-state field that names the sender (``owner`` or ``client``).
    :param value: the sender's value of it.
    :param limit: waiting or running jobs allowed to this sender.
    :param who: how the refusal names the sender ("this session", "this client").
    """

    field: str
    value: str
    limit: int
    who: str

    def holds(self, state: dict) -> bool:
        """Whether a job's state counts against this share."""
        return bool(self.value) and state.get(self.field) == self.value


SECONDS_PER_FRAME = 1.0  # a frame's analysis when no running job shows the real pace (measured 0.3-1.7)
RETRY_AFTER_RANGE_S = (5, 3600)


def spoken_wait(seconds: int) -> str:
    """A wait as a message says it: "40 s", "3 min"."""
    return f"{seconds} s" if seconds < 90 else f"{round(seconds / 60)} min"


def _remaining_frames(state: dict) -> int:
    return max(1, int(state.get("frames_expected") or 1) - int(state.get("frames_analyzed") or 0))


def seconds_per_frame(states: list[dict], now: float) -> float:
    """The pace of the running jobs (their elapsed time over frames analysed), or
    :data:`SECONDS_PER_FRAME` when none has analysed a frame yet.

    :param states: unfinished jobs.
    :param now: the current time.
    """
    paces = [(now - float(s["started"])) / int(s["frames_analyzed"]) for s in states
             if s.get("status") == "running" and s.get("started") and int(s.get("frames_analyzed") or 0) > 0]
    return sum(paces) / len(paces) if paces else SECONDS_PER_FRAME


def wait_estimate_s(states: list[dict], mine: Callable[[dict], bool], workers: int, now: float) -> int:
    """About how long until the first job ``mine`` selects ends: the frames left of every job
    ahead of it and its own (jobs run oldest first), at the running jobs' pace, over the jobs
    run at once. Within :data:`RETRY_AFTER_RANGE_S`.

    :param states: the unfinished jobs.
    :param mine: selects the jobs whose end frees the place asked for.
    :param workers: jobs run at once.
    :param now: the current time.
    """
    frames = 0
    for state in sorted(states, key=lambda s: float(s.get("created", 0))):
        frames += _remaining_frames(state)
        if mine(state):
            break
    seconds = math.ceil(frames * seconds_per_frame(states, now) / max(1, workers))
    low, high = RETRY_AFTER_RANGE_S
    return min(high, max(low, seconds))


def new_job_id() -> str:
    """A random, unguessable job id (32 hex digits)."""
    return secrets.token_hex(16)


def new_job_token() -> tuple[str, str]:
    """A secret token for a job's API client and the hash that is stored (never the token)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """The stored form of a job token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def may_access(state: dict, session: str | None, token: str | None) -> bool:
    """Whether a caller may see or delete a job: its session created it, or it holds the token.

    :param state: the job's state.
    :param session: the caller's session id (None without a session cookie).
    :param token: the ``X-Job-Token`` the caller sent (None when absent).
    """
    owner, stored = state.get("owner") or "", state.get("token_hash") or ""
    if session and owner and hmac.compare_digest(owner.encode(), session.encode()):
        return True
    return bool(token and stored and hmac.compare_digest(stored, token_hash(token)))


def valid_job_id(job_id: str) -> bool:
    """Whether ``job_id`` has the shape :func:`new_job_id` makes (guards file paths)."""
    return bool(JOB_ID.match(job_id or ""))


TRASH_PREFIX = ".removed-"  # a job folder being removed (never a valid job id)


def _remove_tree(path: Path, tries: int = 3) -> None:
    """Remove a folder, again if a file appeared in it meanwhile (a worker's last write)."""
    for _ in range(tries):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.05)


def _write_json(path: Path, value: Any) -> None:
    """Atomically replace a private JSON file (nothing half-written is left on a full disk)."""
    write_private(path, json.dumps(value).encode())


def _boot_id() -> str:
    """This machine's boot id ("" where the system has none to give): a pid is only
    meaningful within one boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> str | None:
    """When a process started, in clock ticks since boot (tells a reused pid from the one
    recorded); None when there is no such process. Without ``/proc``: "" for a live pid.

    :param pid: the process id.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2:].split()[19]  # field 22, after the command in brackets
    except FileNotFoundError:
        return None if Path("/proc/self/stat").exists() else _pid_exists(pid)
    except (OSError, ValueError, IndexError):
        return ""


def _pid_exists(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass  # exists, another user's
    return ""


# The thread runners alive in this process, by their token: a job recorded by this process but
# by a runner since shut down (tests; an app made again) has lost its runner.
_LIVE_RUNNERS: weakref.WeakValueDictionary[str, ThreadRunner] = weakref.WeakValueDictionary()


def thread_runner_identity(token: str) -> dict:
    """What a thread-runner job records about the process that runs it (see :func:`runner_gone`).

    :param token: the manager's own token within its process.
    """
    pid = os.getpid()
    return {"kind": "thread", "host": socket.gethostname(), "boot": _boot_id(), "pid": pid,
            "started": _process_start(pid) or "", "token": token}


def thread_runner_gone(runner: dict) -> bool:
    """Whether the process (and the runner in it) that was to run a thread-runner job has ended.

    Only a process on this machine can be checked: a job of another host (a shared upload
    folder) counts as running here, and the silence rule (:func:`is_stopped`) still applies.

    :param runner: the job's recorded ``runner`` (:func:`thread_runner_identity`).
    """
    if runner.get("host") != socket.gethostname():
        return False
    boot = _boot_id()
    if runner.get("boot") and boot and runner["boot"] != boot:
        return True  # the machine restarted since
    pid = runner.get("pid")
    started = _process_start(pid) if isinstance(pid, int) and pid > 0 else None
    if started is None or (started and runner.get("started") and started != runner["started"]):
        return True  # no such process, or another one under a reused pid
    if pid == os.getpid():
        return runner.get("token") not in _LIVE_RUNNERS
    return False


def is_stopped(state: dict | None, now: float, stale_s: float = STALE_RUNNING_S) -> bool:
    """Whether a job reads as running but has been silent too long to still be running.

    :param state: the job's state (None when gone).
    :param now: the current time.
    :param stale_s: the silence after which a running job is taken as stopped.
    """
    return bool(state) and state.get("status") == "running" and now - float(state.get("updated", 0)) > stale_s


@dataclass(frozen=True)
class JobSpec:
    """Everything a job needs to run, fixed when the video is uploaded and checked.

    :param video_path: the uploaded video.
    :param job_dir: the job's folder.
    :param name: the cleaned display name of the video.
    :param sample_fps: analysed frames per second of video.
    :param keep: keep the video and results for the retention period (the user opted in).
    :param video: the facts the upload check probed (so the job does not probe again).
    :param frames_expected: how many frames sampling will analyse, by the container's count.
    :param max_seconds: stop past this time, whatever the header said.
    :param max_frames: stop past this many analysed frames.
    :param max_pixels: refuse frames larger than this.
    :param max_faces: analyse at most this many faces per frame.
    :param decoder: the decoding child's limits.
    """

    video_path: str
    job_dir: str
    name: str
    sample_fps: float
    keep: bool
    video: VideoInfo
    frames_expected: int
    max_seconds: float
    max_frames: int
    max_pixels: int
    max_faces: int = MAX_FACES
    decoder: DecoderLimits = field(default_factory=DecoderLimits)

    def to_dict(self) -> dict:
        """The spec as plain JSON values (kept in the job's folder, to run it again)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, value: dict) -> JobSpec:
        """The spec :meth:`to_dict` wrote.

        :raises TypeError, KeyError: not such a spec (another version's, or damaged).
        """
        return cls(**{**value, "video": VideoInfo(**value["video"]),
                      "decoder": DecoderLimits(**value["decoder"])})


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

    def create(self, state: dict) -> None:
        """Write a new job's state.

        :param state: the state, with its ``id``.
        """
        _write_json(self.folder(state["id"]) / "state.json", state)

    def load(self, job_id: str) -> dict | None:
        """A job's state, or None when it is gone (or unreadable)."""
        try:
            return json.loads((self.folder(job_id) / "state.json").read_text())
        except (OSError, ValueError):
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
            state.update(fields, updated=time.time())
            try:
                _write_json(self.folder(job_id) / "state.json", state)
            except FileNotFoundError:
                return False  # deleted meanwhile
            return True

    def fail_if_stopped(self, job_id: str, now: float, reason: str) -> dict | None:
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
            if not state.get("keep"):  # gone before the state says failed
                self.remove_upload(job_id)
            self.drop_run_files(job_id)
            stamp = time.time()
            state.update(status="failed", error=reason, finished=stamp, updated=stamp)
            try:
                _write_json(self.folder(job_id) / "state.json", state)
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

    def active_states(self) -> list[dict]:
        """The states of the unfinished jobs in the index; finished or removed ones leave it."""
        folder = self.active_root
        if not folder.is_dir():
            return []
        states = []
        for marker in folder.iterdir():
            state = self.load(marker.name) if valid_job_id(marker.name) else None
            if state is None or state.get("status") in FINISHED:
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

    def save_results(self, job_id: str, results: dict) -> None:
        """Write a finished job's results."""
        _write_json(self.folder(job_id) / "results.json", results)

    def load_results(self, job_id: str) -> dict | None:
        """A finished job's results, or None."""
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
        owner = (self.load(job_id) or {}).get("owner")
        if owner:
            self.unmark_owned(job_id, owner)
        trash = self.root / f"{TRASH_PREFIX}{job_id}-{secrets.token_hex(4)}"
        try:
            self.folder(job_id).rename(trash)
        except FileNotFoundError:
            return
        except OSError:
            trash = self.folder(job_id)
        _remove_tree(trash)

    def remove_trash(self) -> None:
        """Remove what a removal left (a write that landed in a renamed folder as it went)."""
        if self.root.is_dir():
            for path in self.root.glob(f"{TRASH_PREFIX}*"):
                _remove_tree(path)

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
            owner = (self.load(job_id) or {}).get("owner")
            if owner:
                self.mark_owned(job_id, owner)
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
            elif state.get("owner") == owner:
                owned.append(marker.name)
        return owned


def _save_frame(folder: Path, number: int, rgb: np.ndarray) -> None:
    """Keep a downscaled JPEG of one sampled frame for seeking from the chart."""
    height, width = rgb.shape[:2]
    scale = min(1.0, FRAME_MAX_SIDE / max(height, width))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    if ok:
        (folder / f"{number}.jpg").write_bytes(encoded.tobytes())


def _failure_reason(job_id: str, error: Exception) -> str:
    """What a client is told about an unexpected failure (the details go to the log)."""
    if isinstance(error, OSError):  # a full or read-only upload folder
        log.error("video job %s could not write its files: %s", job_id, error)
        return f"the server could not store the job's files: {error.strerror or error}"
    log.exception("video job %s failed", job_id)
    return "internal error while analysing the video"


def _record_failure(store: JobStore, job_id: str, keep: bool, reason: str) -> None:
    """Mark a job failed with its reason (its upload deleted first, unless kept); if even that
    cannot be written, log it.

    (A job whose state cannot be written reads as failed once it has been silent for
    ``STALE_RUNNING_S``: see :meth:`JobManager.get`.)
    """
    try:
        store.finish(job_id, keep, status="failed", error=reason, finished=time.time())
    except Exception:
        log.exception("could not record that video job %s failed (%s)", job_id, reason)


def short_video_warning(analyzed: int, expected: int) -> str | None:
    """What to tell a user whose video gave far fewer frames than its header promised: the
    decoder stops quietly at damaged or missing data, and "done" alone would hide that.

    :param analyzed: frames read and analysed.
    :param expected: frames the sampling of the container's duration promised.
    """
    if expected <= 0 or analyzed >= expected - max(2, 0.1 * expected):
        return None  # container durations are approximate: a few frames short is normal
    return (f"the video ended after {analyzed} of the {expected} frames expected: it may be "
            "damaged or cut short, and the results cover only what could be read")


def execute_job(job_id: str, spec: JobSpec, store: JobStore) -> None:
    """Run one video job to its end, recording progress, results or the reason it failed.

    Never raises: every outcome is written to the store (a deleted job is simply dropped).

    :param job_id: the job.
    :param spec: what to analyse and within which limits.
    :param store: where state and results go.
    """
    video_path = Path(spec.video_path)
    frames_dir = Path(spec.job_dir) / "frames"
    try:
        if store.cancel_requested(job_id):
            store.finish(job_id, spec.keep, status="cancelled", error=CANCELLED_REASON,
                         finished=time.time())
            return
        store.update(job_id, status="running", started=time.time())
        frames_dir.mkdir(exist_ok=True)

        promised = {"frames": spec.frames_expected}  # as the decoder last counted them

        def progress(done: int, expected: int) -> None:
            promised["frames"] = expected
            store.update(job_id, progress=min(99, int(done * 100 / expected)),
                         frames_analyzed=done, frames_expected=expected)

        results = analyze_video(
            str(video_path), spec.sample_fps, max_seconds=spec.max_seconds, max_frames=spec.max_frames,
            max_pixels=spec.max_pixels, max_faces=spec.max_faces, progress=progress,
            info=spec.video, limits=spec.decoder, should_stop=lambda: store.cancel_requested(job_id),
            on_frame=lambda number, rgb, _faces: _save_frame(frames_dir, number, rgb))
        results["video"]["name"] = spec.name
        if not spec.keep:  # gone before "done" is visible, so no client sees it linger
            video_path.unlink(missing_ok=True)
        store.save_results(job_id, results)
        store.drop_run_files(job_id)  # before "done": a client then sees only what stays
        store.update(job_id, status="done", progress=100, finished=time.time(),
                     frames_analyzed=len(results["frames"]),
                     warning=short_video_warning(len(results["frames"]), promised["frames"]))
    except VideoCancelled:
        store.finish(job_id, spec.keep, status="cancelled", error=CANCELLED_REASON, finished=time.time())
    except (VideoError, ModelError) as error:
        _record_failure(store, job_id, spec.keep, str(error))
    except Exception as error:  # the job fails alone; the server carries on
        if store.cancel_requested(job_id):
            return  # deleted while running: its folder vanished under it
        _record_failure(store, job_id, spec.keep, _failure_reason(job_id, error))
    finally:
        if not spec.keep:
            video_path.unlink(missing_ok=True)  # the upload is only needed while analysing
        with contextlib.suppress(Exception):
            if store.load(job_id) is None:
                # Deleted while running: a frame written during the delete could have kept
                # the folder alive, so the worker removes what is left.
                _remove_tree(Path(spec.job_dir))


def rq_task(job_id: str, spec: JobSpec, jobs_root: str) -> None:
    """The function RQ workers run: :func:`execute_job` on the shared upload folder.

    :param job_id: the job.
    :param spec: see :class:`JobSpec`.
    :param jobs_root: the jobs folder, at the same path as the web tier sees it.
    """
    execute_job(job_id, spec, JobStore(Path(jobs_root)))


class Runner(Protocol):
    """How jobs are run: :class:`ThreadRunner` or :class:`RqRunner`."""

    def submit(self, job_id: str, spec: JobSpec, force: bool = False) -> None: ...

    def cancel(self, job_id: str) -> None: ...

    def identity(self) -> dict: ...

    def gone(self, job_id: str, runner: dict) -> bool | None: ...

    def forget(self, job_id: str) -> None: ...

    def shutdown(self) -> None: ...


class ThreadRunner:
    """Runs jobs in a bounded pool inside this process.

    :param store: the file store the jobs report to.
    :param workers: jobs run at once.
    :param max_pending: jobs waiting or running before :class:`JobQueueFull`.
    """

    def __init__(self, store: JobStore, workers: int, max_pending: int):
        self.store = store
        self.max_pending = max(1, max_pending)
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="video-job")
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()
        self.token = secrets.token_hex(8)
        _LIVE_RUNNERS[self.token] = self

    def submit(self, job_id: str, spec: JobSpec, force: bool = False) -> None:
        """Queue a job in the pool.

        :param force: queue it even past ``max_pending`` (a job accepted before a restart).
        :raises JobQueueFull: ``max_pending`` jobs are already waiting or running.
        """
        with self._lock:
            self._futures = {k: f for k, f in self._futures.items() if not f.done()}
            if len(self._futures) >= self.max_pending and not force:
                raise JobQueueFull("too many video jobs are waiting; try again in a minute")
            self._futures[job_id] = self._pool.submit(execute_job, job_id, spec, self.store)

    def cancel(self, job_id: str) -> None:
        """Drop a job that has not started (a running one polls its cancel flag)."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.cancel()  # only stops a job that has not started; running ones poll the flag

    def identity(self) -> dict:
        """What a job records about its runner: this process (and this runner in it)."""
        return thread_runner_identity(self.token)

    def gone(self, job_id: str, runner: dict) -> bool | None:
        """Whether a job recorded with ``runner`` lost it (None: not a thread-runner job).

        :param job_id: the job.
        :param runner: the job's recorded ``runner``.
        """
        return thread_runner_gone(runner) if runner.get("kind") == "thread" else None

    def forget(self, job_id: str) -> None:
        """Nothing to drop: the ended process took its queue with it."""

    def shutdown(self) -> None:
        """Stop the pool without waiting (tests)."""
        _LIVE_RUNNERS.pop(self.token, None)
        self._pool.shutdown(wait=False, cancel_futures=True)


class RqRunner:
    """Sends jobs to an RQ queue; the workers report to the same :class:`JobStore` files.

    :param redis: the connection.
    :param queue_name: the queue ``rq worker`` listens on.
    :param max_pending: queued jobs before :class:`JobQueueFull`.
    :param jobs_root: the jobs folder (the workers see it at the same path).
    :param timeout_s: RQ's limit for one job.
    """

    def __init__(self, redis: Any, queue_name: str, max_pending: int, jobs_root: Path,
                 timeout_s: int = 3600):
        from rq import Queue

        self.redis = redis
        self.queue = Queue(queue_name, connection=redis)
        self.max_pending = max(1, max_pending)
        self.jobs_root = str(jobs_root)
        self.timeout_s = timeout_s

    def submit(self, job_id: str, spec: JobSpec, force: bool = False) -> None:
        """Enqueue a job.

        :param force: enqueue it even past ``max_pending`` (a job accepted before a restart).
        :raises JobQueueFull: ``max_pending`` jobs are already queued.
        :raises redis.exceptions.RedisError: Redis is not reachable.
        """
        if self.queue.count >= self.max_pending and not force:
            raise JobQueueFull("too many video jobs are waiting; try again in a minute")
        self.queue.enqueue_call(func=rq_task, args=(job_id, spec, self.jobs_root), job_id=job_id,
                                timeout=self.timeout_s, result_ttl=0, failure_ttl=self.timeout_s)

    def cancel(self, job_id: str) -> None:
        """Drop a job still waiting in the queue (a running one polls its cancel flag)."""
        from rq.exceptions import InvalidJobOperation, NoSuchJobError
        from rq.job import Job

        try:
            job = Job.fetch(job_id, connection=self.redis)
            if job.get_status() in ("queued", "deferred", "scheduled"):
                job.cancel()
        except (NoSuchJobError, InvalidJobOperation):
            pass

    def identity(self) -> dict:
        """What a job records about its runner: the RQ queue (the job is found by its id)."""
        return {"kind": "rq", "queue": self.queue.name}

    def gone(self, job_id: str, runner: dict) -> bool | None:
        """Whether a job's RQ job is lost: missing from Redis (restarted without persistence,
        flushed) or ended as failed, stopped or cancelled by RQ. None when it cannot be told
        (not an RQ job, Redis unreachable).

        :param job_id: the job (and its RQ job's id).
        :param runner: the job's recorded ``runner``.
        """
        if runner.get("kind") != "rq":
            return None
        from redis.exceptions import RedisError
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        try:
            status = Job.fetch(job_id, connection=self.redis).get_status()
        except NoSuchJobError:
            return True
        except (RedisError, ValueError):
            return None
        return str(getattr(status, "value", status)) in ("failed", "stopped", "canceled")

    def forget(self, job_id: str) -> None:
        """Drop what RQ still holds of a lost job, before it is enqueued again."""
        from redis.exceptions import RedisError
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        with contextlib.suppress(NoSuchJobError, RedisError):
            Job.fetch(job_id, connection=self.redis).delete()

    def shutdown(self) -> None:
        """Nothing to stop: the workers are other processes."""


def _other_backend_gone(runner: dict) -> bool:
    """Whether a job recorded by the other backend has lost its runner, as far as this
    process can tell: a thread runner's process is checked; RQ cannot be asked without Redis."""
    return runner.get("kind") == "thread" and thread_runner_gone(runner)


class JobManager:
    """The job interface the web app uses: submit, inspect, cancel, delete, sweep.

    :param upload_dir: the upload folder (jobs live in ``<upload_dir>/jobs/<id>/``).
    :param redis_url: use RQ and Redis when set; the in-process pool otherwise.
    :param workers: in-process jobs run at once.
    :param max_pending: jobs waiting or running before :class:`JobQueueFull`.
    :param queue_name: the RQ queue.
    :param job_ttl_s: a job is removed this long after its last update ...
    :param retention_s: ... or this long when the user keeps captures.
    """

    def __init__(self, upload_dir: Path, redis_url: str | None = None, workers: int = 1,
                 max_pending: int = 8, queue_name: str = "faceinsight", job_ttl_s: float = 3600,
                 retention_s: float = 86400):
        self.root = Path(upload_dir) / JOBS
        self.job_ttl_s = job_ttl_s
        self.retention_s = retention_s
        self.backend = "rq" if redis_url else "thread"
        self.store = JobStore(self.root)
        try:
            if listed := self.store.index_owners():
                log.info("indexed %d video jobs by session (once: jobs made before the index)", listed)
        except OSError as error:  # a read-only upload folder: listing falls back to nothing new
            log.error("could not index the video jobs by session: %s", error)
        self.redis: Any = None
        self.runner: Runner
        if redis_url:
            import redis

            self.redis = redis.Redis.from_url(redis_url)
            self.runner = RqRunner(self.redis, queue_name, max_pending, self.root)
        else:
            self.runner = ThreadRunner(self.store, workers, max_pending)
        self._sweeping = threading.Lock()  # one sweep at a time in this process (timer, requests)
        self._admitting = threading.Lock()

    def new_job(self) -> tuple[str, Path]:
        """A fresh job id and its (private, empty) folder, to save the upload into.

        :raises OSError: the upload folder is not writable.
        """
        job_id = new_job_id()
        folder = self.root / job_id
        folder.mkdir(parents=True, mode=0o700)
        return job_id, folder

    def submit(self, job_id: str, owner: str, spec: JobSpec, token_sha256: str = "",
               extra: dict | None = None, share: Share | None = None) -> dict:
        """Record a job as queued and hand it to the backend.

        :param job_id: from :meth:`new_job`.
        :param owner: the session that may read and delete it.
        :param spec: what to analyse (see :class:`JobSpec`).
        :param token_sha256: the hash of the job's token (:func:`new_job_token`): whoever holds
            the token may read and delete it too.
        :param extra: more fields for its state (who sent it, for fair shares).
        :param share: the sender's share of the queue (checked with the job's admission).
        :raises JobShareFull: the sender already has its share of jobs (the job is removed).
        :raises JobQueueFull: the queue is full (the job and its folder are removed), with
            :func:`wait_estimate_s` as its ``retry_after_s``.
        """
        now = time.time()
        state = {"id": job_id, "owner": owner, "token_hash": token_sha256, "name": spec.name,
                 "status": "queued", "progress": 0, "error": None, "created": now, "updated": now,
                 "sample_fps": spec.sample_fps, "frames_analyzed": 0,
                 "frames_expected": spec.frames_expected, "keep": spec.keep,
                 "ttl_s": int(self.retention_s if spec.keep else self.job_ttl_s),
                 "runner": self.runner.identity(), "attempts": 1, "note": None, **(extra or {})}
        try:
            with self._admitting:  # one count-then-record at a time in this process
                if share is not None:
                    self.check_share(share)
                self.store.save_spec(job_id, spec)
                self.store.create(state)
                self.runner.submit(job_id, spec)
                self._index(job_id, owner)  # after: a refused job leaves nothing behind
        except JobShareFull:
            self.store.remove(job_id)
            raise
        except JobQueueFull:
            self.store.remove(job_id)
            wait = self.wait_s(lambda _state: True)  # a place frees as the oldest job ends
            raise JobQueueFull("too many video jobs are waiting or running on the server; try again "
                               f"in about {spoken_wait(wait)}", wait) from None
        except Exception:
            self.store.remove(job_id)
            raise
        return state

    def _index(self, job_id: str, owner: str) -> None:
        """List an accepted job among the unfinished ones and its session's (a failure only
        weakens fair shares, or leaves the job off its session's list until it expires)."""
        try:
            self.store.mark_active(job_id)
            if owner:
                self.store.mark_owned(job_id, owner)
        except OSError as error:
            log.error("could not index video job %s: %s", job_id, error)

    def check_share(self, share: Share) -> None:
        """Refuse a sender that already has its share of waiting or running jobs.

        :param share: the sender and its limit.
        :raises JobShareFull: naming the limit and about when one of its jobs ends.
        """
        states = self.store.active_states()
        held = sum(share.holds(state) for state in states)
        if held >= share.limit:
            wait = wait_estimate_s(states, share.holds, self.runner_count(), time.time())
            raise JobShareFull(
                f"{share.who} already has {held} video jobs waiting or running, the most one "
                f"sender may have at once; send this one when one of them ends, in about "
                f"{spoken_wait(wait)}", wait)

    def wait_s(self, mine: Callable[[dict], bool]) -> int:
        """About how long until the first job ``mine`` selects ends (:func:`wait_estimate_s`)."""
        return wait_estimate_s(self.store.active_states(), mine, self.runner_count(), time.time())

    def runner_count(self) -> int:
        """Jobs run at once: the pool's threads, or the RQ workers on the queue (at least 1)."""
        if isinstance(self.runner, ThreadRunner):
            return self.runner.workers
        try:
            from rq import Worker

            return max(1, Worker.count(queue=self.runner.queue))
        except Exception:  # Redis unreachable: the estimate is only a hint
            return 1

    def get(self, job_id: str) -> dict | None:
        """A job's state, or None when unknown (a dead process's running job is failed here).

        :param job_id: the job.
        """
        if not valid_job_id(job_id):
            return None
        return self._current_state(job_id, time.time())

    def _current_state(self, job_id: str, now: float) -> dict | None:
        """A job's state, first dealing with a job whose runner is gone: re-queued, or failed
        (:meth:`_recover`); or failed when it has been silent too long (:func:`is_stopped`)."""
        state = self.store.load(job_id)
        if state and state.get("status") in UNFINISHED and self._runner_gone(job_id, state, now):
            state = self._recover(job_id, state) or self.store.load(job_id)
        if is_stopped(state, now):
            state = self._record_stopped(job_id, now) or self.store.load(job_id)
        return state

    def _runner_gone(self, job_id: str, state: dict, now: float) -> bool:
        """Whether the process or RQ job recorded as running an unfinished job has ended (a job
        recorded before runners were recorded is judged by its silence alone)."""
        runner = state.get("runner")
        if not isinstance(runner, dict):
            return False
        if runner.get("kind") == "rq" and now - float(state.get("updated", 0)) < RQ_GRACE_S:
            return False  # maybe not enqueued yet
        return bool(self.runner.gone(job_id, runner) if runner.get("kind") == self.backend
                    else _other_backend_gone(runner))

    def _recover(self, job_id: str, state: dict) -> dict | None:
        """Run a job again whose runner is gone, when its upload is still there; otherwise
        record it as failed, saying why, its upload deleted first. Once among all processes
        (:meth:`JobStore.claim`); the new state, or None when another process took it.
        """
        attempts = int(state.get("attempts") or 1)
        if not self.store.claim(job_id, attempts):
            return None
        state = self.store.load(job_id)
        if not state or state.get("status") not in UNFINISHED:
            return None  # it ended (or was deleted) meanwhile
        spec = self.store.load_spec(job_id)
        if spec is None or not Path(spec.video_path).is_file():
            reason = UPLOAD_GONE_REASON
        elif attempts >= MAX_ATTEMPTS:
            reason = TOO_MANY_RESTARTS_REASON.format(attempts)
        else:
            return self._requeue(job_id, spec, attempts + 1)
        log.warning("video job %s lost its runner; recorded as failed: %s", job_id, reason)
        keep = bool(state.get("keep")) and spec is not None
        self.store.finish(job_id, keep, status="failed", error=reason, finished=time.time(),
                          note=RESTARTED_NOTE)
        return self.store.load(job_id)

    def _requeue(self, job_id: str, spec: JobSpec, attempt: int) -> dict | None:
        """Queue a job again from the start, in this process's runner."""
        log.warning("video job %s lost its runner; queued again (attempt %d)", job_id, attempt)
        self.runner.forget(job_id)
        self.store.update(job_id, status="queued", progress=0, frames_analyzed=0, error=None,
                          runner=self.runner.identity(), attempts=attempt, note=RESTARTED_NOTE)
        try:
            self.runner.submit(job_id, spec, force=True)
        except Exception as error:  # Redis gone meanwhile: say so rather than wait for ever
            log.error("video job %s could not be queued again: %s", job_id, error)
            self.store.finish(job_id, spec.keep, status="failed", finished=time.time(),
                              error="the server restarted during the analysis and could not queue "
                                    "it again; send the video again")
        return self.store.load(job_id)

    def recover(self) -> int:
        """Deal with every unfinished job whose runner is gone (start-up); how many there were.

        Reads the index of unfinished jobs, not every job (the sweep reads every job).
        Re-queued jobs run in this process (thread runner) or go back to the RQ queue.
        """
        now, count = time.time(), 0
        for state in self.store.active_states():
            if self._runner_gone(state["id"], state, now):
                count += self._recover(state["id"], state) is not None
        return count

    def _record_stopped(self, job_id: str, now: float) -> dict | None:
        """Fail a job whose worker died, its upload deleted first, as a job that fails normally
        is (results and frames stay until the job expires; a kept video stays)."""
        state = self.store.fail_if_stopped(job_id, now, STOPPED_REASON)
        if state is not None:
            log.warning("video job %s stopped without finishing; recorded as failed", job_id)
        return state

    def results(self, job_id: str) -> dict | None:
        """A finished job's results, or None.

        :param job_id: the job.
        """
        return self.store.load_results(job_id) if valid_job_id(job_id) else None

    def frame_path(self, job_id: str, number: int) -> Path | None:
        """The thumbnail of one sampled frame, or None.

        :param job_id: the job.
        :param number: the sample number (``frame`` in the results).
        """
        if not valid_job_id(job_id) or number < 0:
            return None
        path = self.store.folder(job_id) / "frames" / f"{number}.jpg"
        return path if path.is_file() else None

    def delete(self, job_id: str) -> bool:
        """Cancel a job if it is still going and remove its state, results and files.

        :param job_id: the job.
        :returns: whether there was such a job.
        """
        if not valid_job_id(job_id):
            return False
        existed = self.store.folder(job_id).exists()
        self.store.request_cancel(job_id)
        self.runner.cancel(job_id)
        self.store.remove(job_id)
        return existed

    def delete_owned(self, owner: str) -> int:
        """Delete every job of one session ("Clear session"); returns how many.

        :param owner: the session id.
        """
        return sum(self.delete(job_id) for job_id in self.store.ids_owned_by(owner))

    def sweep(self, now: float | None = None) -> int:
        """Re-queue (or fail) jobs whose runner is gone, fail jobs whose worker went silent
        (dropping their uploads), then remove jobs idle past their lifetime (and folders whose
        state is gone). A sweep already under way in this process
        (the timer's or a request's) makes this one return at once.

        :param now: the current time (tests).
        :returns: how many job folders were removed (0 when another sweep was running).
        """
        if not self._sweeping.acquire(blocking=False):
            return 0
        try:
            now = time.time() if now is None else now
            self.store.remove_trash()
            self.store.active_states()  # drops finished jobs from the index
            return sum(self.delete(job_id) for job_id in self.store.ids() if self._expired(job_id, now))
        finally:
            self._sweeping.release()

    def _expired(self, job_id: str, now: float) -> bool:
        """Whether a job has been idle past its lifetime (an orphan folder: the job lifetime)."""
        state = self._current_state(job_id, now)
        if state is None:  # no state to speak for the folder
            try:
                return now - self.store.folder(job_id).stat().st_mtime > self.job_ttl_s
            except OSError:
                return False
        return now - float(state.get("updated", 0)) > float(state.get("ttl_s", self.job_ttl_s))

    def ping(self) -> None:
        """Check the backend answers (Redis with RQ; the jobs folder is checked lazily).

        :raises redis.exceptions.ConnectionError: Redis is not reachable.
        """
        if self.redis is not None:
            self.redis.ping()

    def shutdown(self) -> None:
        """Stop taking jobs (tests; gunicorn workers just exit)."""
        self.runner.shutdown()

