"""Background video jobs behind one small interface, with two backends.

* In-process (default): a bounded :class:`~concurrent.futures.ThreadPoolExecutor` in each server
  process. Job state and results are JSON files in the job's folder, so every gunicorn worker
  (and a restarted server) sees the same jobs.
* RQ (when ``REDIS_URL`` is set): jobs go to an RQ queue and run in ``rq worker`` processes;
  state, results and the cancel flag live in Redis. Workers read the uploaded video from the
  same upload folder (same path) and write the frame thumbnails there.

Either way a job's folder ``<uploads>/jobs/<id>/`` holds the video while it is analysed (deleted
afterwards unless the user keeps captures) and the sampled frames used for seeking.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import shutil
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceinsight.files import write_private
from faceinsight.models import ModelError
from faceinsight.video import DecoderLimits, VideoCancelled, VideoError, VideoInfo, analyze_video

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
FINISHED = frozenset({"done", "failed", "cancelled"})
FRAME_MAX_SIDE = 640  # thumbnails kept for seeking; boxes stay in the video's own pixels
STALE_RUNNING_S = 300.0  # a running job silent this long died with its process
JOBS = "jobs"


class JobQueueFull(RuntimeError):
    """Too many video jobs are waiting or running; the client should retry later."""


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


def _write_json(path: Path, value: Any) -> None:
    """Atomically replace a private JSON file (nothing half-written is left on a full disk)."""
    write_private(path, json.dumps(value).encode())


class StateStore:
    """Where job state, results and cancel requests live (one implementation per backend)."""

    def create(self, state: dict) -> None:
        raise NotImplementedError

    def load(self, job_id: str) -> dict | None:
        raise NotImplementedError

    def update(self, job_id: str, **fields: Any) -> bool:
        """Merge fields into a job's state; False (and nothing written) if the job is gone."""
        raise NotImplementedError

    def save_results(self, job_id: str, results: dict) -> None:
        raise NotImplementedError

    def load_results(self, job_id: str) -> dict | None:
        raise NotImplementedError

    def request_cancel(self, job_id: str) -> None:
        raise NotImplementedError

    def cancel_requested(self, job_id: str) -> bool:
        """True when the job was cancelled or removed (the worker should stop)."""
        raise NotImplementedError

    def remove(self, job_id: str) -> None:
        raise NotImplementedError

    def ids_owned_by(self, owner: str) -> list[str]:
        raise NotImplementedError


class FileStateStore(StateStore):
    """State as ``state.json``/``results.json`` in each job's folder (in-process backend).

    :param root: the jobs folder, ``<uploads>/jobs``.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()

    def _dir(self, job_id: str) -> Path:
        return self.root / job_id

    def create(self, state: dict) -> None:
        _write_json(self._dir(state["id"]) / "state.json", state)

    def load(self, job_id: str) -> dict | None:
        try:
            return json.loads((self._dir(job_id) / "state.json").read_text())
        except (OSError, ValueError):
            return None

    def update(self, job_id: str, **fields: Any) -> bool:
        with self._lock:  # read-modify-write within this process
            state = self.load(job_id)
            if state is None:
                return False
            state.update(fields, updated=time.time())
            try:
                _write_json(self._dir(job_id) / "state.json", state)
            except FileNotFoundError:
                return False  # deleted meanwhile
            return True

    def save_results(self, job_id: str, results: dict) -> None:
        _write_json(self._dir(job_id) / "results.json", results)

    def load_results(self, job_id: str) -> dict | None:
        try:
            return json.loads((self._dir(job_id) / "results.json").read_text())
        except (OSError, ValueError):
            return None

    def request_cancel(self, job_id: str) -> None:
        try:
            (self._dir(job_id) / "cancel").touch()
        except OSError:
            pass

    def cancel_requested(self, job_id: str) -> bool:
        folder = self._dir(job_id)
        return (folder / "cancel").exists() or not (folder / "state.json").exists()

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self._dir(job_id), ignore_errors=True)

    def ids_owned_by(self, owner: str) -> list[str]:
        if not self.root.is_dir():
            return []
        return [p.name for p in self.root.iterdir()
                if valid_job_id(p.name) and (self.load(p.name) or {}).get("owner") == owner]


class RedisStateStore(StateStore):
    """State, results and cancel flags in Redis (RQ backend); keys expire with the job.

    :param redis: a ``redis.Redis`` connection.
    :param prefix: key prefix.
    :param ttl_s: seconds a job's keys live after its last update.
    """

    def __init__(self, redis: Any, prefix: str = "faceinsight", ttl_s: int = 86400):
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = int(ttl_s)

    def _key(self, job_id: str, part: str = "") -> str:
        return f"{self.prefix}:job:{job_id}{':' + part if part else ''}"

    def _ttl(self, state: dict) -> int:
        return max(60, int(state.get("ttl_s") or self.ttl_s))

    def create(self, state: dict) -> None:
        ttl = self._ttl(state)
        owner_key = f"{self.prefix}:owner:{state['owner']}"
        pipe = self.redis.pipeline()
        pipe.set(self._key(state["id"]), json.dumps(state), ex=ttl)
        pipe.sadd(owner_key, state["id"])
        pipe.expire(owner_key, ttl)
        pipe.execute()

    def load(self, job_id: str) -> dict | None:
        raw = self.redis.get(self._key(job_id))
        return json.loads(raw) if raw else None

    def update(self, job_id: str, **fields: Any) -> bool:
        state = self.load(job_id)
        if state is None:
            return False
        state.update(fields, updated=time.time())
        # xx: never resurrect a job deleted since it was read.
        return bool(self.redis.set(self._key(job_id), json.dumps(state), ex=self._ttl(state), xx=True))

    def save_results(self, job_id: str, results: dict) -> None:
        state = self.load(job_id) or {}
        self.redis.set(self._key(job_id, "results"), json.dumps(results), ex=self._ttl(state))

    def load_results(self, job_id: str) -> dict | None:
        raw = self.redis.get(self._key(job_id, "results"))
        return json.loads(raw) if raw else None

    def request_cancel(self, job_id: str) -> None:
        self.redis.set(self._key(job_id, "cancel"), "1", ex=self.ttl_s)

    def cancel_requested(self, job_id: str) -> bool:
        cancelled = self.redis.exists(self._key(job_id, "cancel"))
        return bool(cancelled) or not self.redis.exists(self._key(job_id))

    def remove(self, job_id: str) -> None:
        state = self.load(job_id)
        keys = [self._key(job_id), self._key(job_id, "results")]
        self.redis.delete(*keys)
        if state and state.get("owner"):
            self.redis.srem(f"{self.prefix}:owner:{state['owner']}", job_id)

    def ids_owned_by(self, owner: str) -> list[str]:
        members = self.redis.smembers(f"{self.prefix}:owner:{owner}")
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)


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


def _record_failure(store: StateStore, job_id: str, reason: str) -> None:
    """Mark a job failed with its reason; if even that cannot be written, log it.

    (A job whose state cannot be written reads as failed once it has been silent for
    ``STALE_RUNNING_S``.)
    """
    try:
        store.update(job_id, status="failed", error=reason, finished=time.time())
    except Exception:
        log.exception("could not record that video job %s failed (%s)", job_id, reason)


def execute_job(job_id: str, spec: dict, store: StateStore) -> None:
    """Run one video job to its end, recording progress, results or the reason it failed.

    Never raises: every outcome is written to the store (a deleted job is simply dropped).

    :param job_id: the job.
    :param spec: ``video_path``, ``job_dir``, ``sample_fps``, ``keep``, the limits
        (``max_seconds``, ``max_frames``, ``max_pixels``, ``max_faces``), and optionally ``video``
        (the probed :class:`VideoInfo` as a dict, so the video is not probed again) and
        ``decoder`` (the decoding child's :class:`DecoderLimits` as a dict).
    :param store: where state and results go.
    """
    video_path = Path(spec["video_path"])
    frames_dir = Path(spec["job_dir"]) / "frames"
    try:
        if store.cancel_requested(job_id):
            store.update(job_id, status="cancelled", error="the job was cancelled")
            return
        store.update(job_id, status="running", started=time.time())
        frames_dir.mkdir(exist_ok=True)

        def progress(done: int, expected: int) -> None:
            store.update(job_id, progress=min(99, int(done * 100 / expected)),
                         frames_analyzed=done, frames_expected=expected)

        results = analyze_video(
            str(video_path), float(spec["sample_fps"]), max_seconds=float(spec["max_seconds"]),
            max_frames=int(spec["max_frames"]), max_pixels=int(spec["max_pixels"]),
            max_faces=int(spec["max_faces"]), progress=progress,
            info=VideoInfo(**spec["video"]) if spec.get("video") else None,
            limits=DecoderLimits(**spec.get("decoder", {})),
            should_stop=lambda: store.cancel_requested(job_id),
            on_frame=lambda number, rgb, _faces: _save_frame(frames_dir, number, rgb))
        results["video"]["name"] = spec.get("name", "")
        if not spec.get("keep"):  # gone before "done" is visible, so no client sees it linger
            video_path.unlink(missing_ok=True)
        store.save_results(job_id, results)
        store.update(job_id, status="done", progress=100, finished=time.time(),
                     frames_analyzed=len(results["frames"]))
    except VideoCancelled:
        store.update(job_id, status="cancelled", error="the job was cancelled", finished=time.time())
    except (VideoError, ModelError) as error:
        _record_failure(store, job_id, str(error))
    except Exception as error:  # the job fails alone; the server carries on
        if store.cancel_requested(job_id):
            return  # deleted while running: its folder vanished under it
        _record_failure(store, job_id, _failure_reason(job_id, error))
    finally:
        if not spec.get("keep"):
            video_path.unlink(missing_ok=True)  # the upload is only needed while analysing
        with contextlib.suppress(Exception):
            if store.load(job_id) is None:
                # Deleted while running: a frame written during the delete could have kept
                # the folder alive, so the worker removes what is left.
                shutil.rmtree(spec["job_dir"], ignore_errors=True)


def rq_task(job_id: str, spec: dict, prefix: str, ttl_s: int) -> None:
    """The function RQ workers run: :func:`execute_job` with Redis as the store.

    :param job_id: the job.
    :param spec: see :func:`execute_job`.
    :param prefix: the Redis key prefix the web tier uses.
    :param ttl_s: default lifetime of the job's keys.
    """
    from rq import get_current_job

    connection = get_current_job().connection
    execute_job(job_id, spec, RedisStateStore(connection, prefix, ttl_s))


class ThreadRunner:
    """Runs jobs in a bounded pool inside this process.

    :param store: the file store the jobs report to.
    :param workers: jobs run at once.
    :param max_pending: jobs waiting or running before :class:`JobQueueFull`.
    """

    def __init__(self, store: StateStore, workers: int, max_pending: int):
        self.store = store
        self.max_pending = max(1, max_pending)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="video-job")
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()

    def submit(self, job_id: str, spec: dict) -> None:
        with self._lock:
            self._futures = {k: f for k, f in self._futures.items() if not f.done()}
            if len(self._futures) >= self.max_pending:
                raise JobQueueFull("too many video jobs are waiting; try again in a minute")
            self._futures[job_id] = self._pool.submit(execute_job, job_id, spec, self.store)

    def cancel(self, job_id: str) -> None:
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.cancel()  # only stops a job that has not started; running ones poll the flag

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class RqRunner:
    """Sends jobs to an RQ queue.

    :param redis: the connection.
    :param queue_name: the queue ``rq worker`` listens on.
    :param max_pending: queued jobs before :class:`JobQueueFull`.
    :param prefix: the key prefix of the Redis store.
    :param ttl_s: lifetime of the job's keys.
    :param timeout_s: RQ's limit for one job.
    """

    def __init__(self, redis: Any, queue_name: str, max_pending: int, prefix: str, ttl_s: int,
                 timeout_s: int = 3600):
        from rq import Queue

        self.redis = redis
        self.queue = Queue(queue_name, connection=redis)
        self.max_pending = max(1, max_pending)
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s

    def submit(self, job_id: str, spec: dict) -> None:
        if self.queue.count >= self.max_pending:
            raise JobQueueFull("too many video jobs are waiting; try again in a minute")
        self.queue.enqueue_call(func=rq_task, args=(job_id, spec, self.prefix, self.ttl_s), job_id=job_id,
                                timeout=self.timeout_s, result_ttl=0, failure_ttl=self.ttl_s)

    def cancel(self, job_id: str) -> None:
        from rq.exceptions import InvalidJobOperation, NoSuchJobError
        from rq.job import Job

        try:
            job = Job.fetch(job_id, connection=self.redis)
            if job.get_status() in ("queued", "deferred", "scheduled"):
                job.cancel()
        except (NoSuchJobError, InvalidJobOperation):
            pass

    def shutdown(self) -> None:
        pass


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
        self.store: StateStore
        if redis_url:
            import redis

            connection = redis.Redis.from_url(redis_url)
            self.store = RedisStateStore(connection, ttl_s=int(retention_s))
            self.runner: ThreadRunner | RqRunner = RqRunner(
                connection, queue_name, max_pending, "faceinsight", int(retention_s))
        else:
            self.store = FileStateStore(self.root)
            self.runner = ThreadRunner(self.store, workers, max_pending)

    def new_job(self) -> tuple[str, Path]:
        """A fresh job id and its (private, empty) folder, to save the upload into.

        :raises OSError: the upload folder is not writable.
        """
        job_id = new_job_id()
        folder = self.root / job_id
        folder.mkdir(parents=True, mode=0o700)
        return job_id, folder

    def submit(self, job_id: str, owner: str, name: str, spec: dict, token_sha256: str = "") -> dict:
        """Record a job as queued and hand it to the backend.

        :param job_id: from :meth:`new_job`.
        :param owner: the session that may read and delete it.
        :param name: the cleaned display name of the video.
        :param spec: see :func:`execute_job`.
        :param token_sha256: the hash of the job's token (:func:`new_job_token`): whoever holds
            the token may read and delete it too.
        :raises JobQueueFull: the queue is full (the job and its folder are removed).
        """
        now = time.time()
        keep = bool(spec.get("keep"))
        state = {"id": job_id, "owner": owner, "token_hash": token_sha256, "name": name,
                 "status": "queued", "progress": 0, "error": None, "created": now, "updated": now,
                 "sample_fps": spec["sample_fps"],
                 "frames_analyzed": 0, "frames_expected": spec.get("frames_expected", 0), "keep": keep,
                 "ttl_s": int(self.retention_s if keep else self.job_ttl_s)}
        try:
            self.store.create(state)
            self.runner.submit(job_id, spec)
        except Exception:
            shutil.rmtree(self.root / job_id, ignore_errors=True)
            with contextlib.suppress(Exception):  # the backend may be the thing that failed
                self.store.remove(job_id)
            raise
        return state

    def get(self, job_id: str) -> dict | None:
        """A job's state, or None when unknown (a dead process's running job reads as failed).

        :param job_id: the job.
        """
        if not valid_job_id(job_id):
            return None
        state = self.store.load(job_id)
        if state and state["status"] == "running" and time.time() - state["updated"] > STALE_RUNNING_S:
            state.update(status="failed", error="the analysis stopped unexpectedly (server restarted)")
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
        path = self.root / job_id / "frames" / f"{number}.jpg"
        return path if path.is_file() else None

    def delete(self, job_id: str) -> bool:
        """Cancel a job if it is still going and remove its state, results and files.

        :param job_id: the job.
        :returns: whether there was such a job.
        """
        if not valid_job_id(job_id):
            return False
        existed = self.store.load(job_id) is not None or (self.root / job_id).exists()
        self.store.request_cancel(job_id)
        self.runner.cancel(job_id)
        self.store.remove(job_id)
        shutil.rmtree(self.root / job_id, ignore_errors=True)
        return existed

    def delete_owned(self, owner: str) -> int:
        """Delete every job of one session ("Clear session"); returns how many.

        :param owner: the session id.
        """
        return sum(self.delete(job_id) for job_id in self.store.ids_owned_by(owner))

    def sweep(self, now: float | None = None) -> int:
        """Remove jobs idle past their lifetime (and folders whose state is gone).

        :param now: the current time (tests).
        :returns: how many job folders were removed.
        """
        now = time.time() if now is None else now
        removed = 0
        if not self.root.is_dir():
            return 0
        for folder in self.root.iterdir():
            if not valid_job_id(folder.name):
                continue
            state = self.store.load(folder.name)
            if state is None:
                try:
                    age = now - folder.stat().st_mtime
                except OSError:
                    continue
                expired = age > self.job_ttl_s  # an orphan folder: no state to speak for it
            else:
                expired = now - float(state.get("updated", 0)) > float(state.get("ttl_s", self.job_ttl_s))
            if expired:
                self.delete(folder.name)
                removed += 1
        return removed

    def ping(self) -> None:
        """Check the backend answers (Redis with RQ; the jobs folder is checked lazily).

        :raises redis.exceptions.ConnectionError: Redis is not reachable.
        """
        if isinstance(self.store, RedisStateStore):
            self.store.redis.ping()

    def shutdown(self) -> None:
        """Stop taking jobs (tests; gunicorn workers just exit)."""
        self.runner.shutdown()
