"""Running video jobs: :func:`execute_job` runs one to its end and records every outcome in the
:class:`~faceinsight.jobs.store.JobStore`; a runner decides where it runs:

* :class:`ThreadRunner` (default): a bounded thread pool in this process;
* :class:`RqRunner` (when ``REDIS_URL`` is set): an RQ queue, run by ``rq worker`` processes
  (through :func:`rq_task`, whose dotted path RQ stores in Redis). Redis holds only the queue.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from faceinsight.contract import VideoResults
from faceinsight.jobs.liveness import (
    LIVE_RUNNERS,
    RqRunnerRecord,
    ThreadRunnerRecord,
    thread_runner_gone,
    thread_runner_identity,
)
from faceinsight.jobs.spec import JobSpec
from faceinsight.jobs.store import JobStore, remove_tree
from faceinsight.litert import ModelError
from faceinsight.video.analysis import VideoCancelled, analyze_video
from faceinsight.video.decoder import VideoError

log = logging.getLogger(__name__)

FRAME_MAX_SIDE = 640  # thumbnails kept for seeking; boxes stay in the video's own pixels
CANCELLED_REASON = "the job was cancelled"


class JobQueueFull(RuntimeError):
    """Too many video jobs are waiting or running; the client should retry later.

    :param message: what the client is told.
    :param retry_after_s: about when a place frees (see
        :func:`faceinsight.jobs.shares.wait_estimate_s`); 0 when the raiser cannot tell (the
        web tier then estimates it).
    """

    def __init__(self, message: str, retry_after_s: int = 0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


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
    ``STALE_RUNNING_S``: see :meth:`faceinsight.jobs.manager.JobManager.get`.)
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

        made = analyze_video(
            str(video_path), spec.sample_fps, max_seconds=spec.max_seconds, max_frames=spec.max_frames,
            max_pixels=spec.max_pixels, max_faces=spec.max_faces, progress=progress,
            info=spec.video, limits=spec.decoder, should_stop=lambda: store.cancel_requested(job_id),
            on_frame=lambda number, rgb, _faces: _save_frame(frames_dir, number, rgb))
        made["video"]["name"] = spec.name
        results = VideoResults.model_validate(made)  # checked once, here: served as stored
        if not spec.keep:  # gone before "done" is visible, so no client sees it linger
            video_path.unlink(missing_ok=True)
        store.save_results(job_id, results)
        store.drop_run_files(job_id)  # before "done": a client then sees only what stays
        store.update(job_id, status="done", progress=100, finished=time.time(),
                     frames_analyzed=len(results.frames),
                     warning=short_video_warning(len(results.frames), promised["frames"]))
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
                remove_tree(Path(spec.job_dir))


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

    def identity(self) -> ThreadRunnerRecord | RqRunnerRecord: ...

    def gone(self, job_id: str, runner: ThreadRunnerRecord | RqRunnerRecord) -> bool | None: ...

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
        LIVE_RUNNERS[self.token] = self

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

    def identity(self) -> ThreadRunnerRecord:
        """What a job records about its runner: this process (and this runner in it)."""
        return thread_runner_identity(self.token)

    def gone(self, job_id: str, runner: ThreadRunnerRecord | RqRunnerRecord) -> bool | None:
        """Whether a job recorded with ``runner`` lost it (None: not a thread-runner job).

        :param job_id: the job.
        :param runner: the job's recorded ``runner``.
        """
        return thread_runner_gone(runner) if isinstance(runner, ThreadRunnerRecord) else None

    def forget(self, job_id: str) -> None:
        """Nothing to drop: the ended process took its queue with it."""

    def shutdown(self) -> None:
        """Stop the pool without waiting (tests)."""
        LIVE_RUNNERS.pop(self.token, None)
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

    def identity(self) -> RqRunnerRecord:
        """What a job records about its runner: the RQ queue (the job is found by its id)."""
        return RqRunnerRecord(queue=self.queue.name)

    def gone(self, job_id: str, runner: ThreadRunnerRecord | RqRunnerRecord) -> bool | None:
        """Whether a job's RQ job is lost: missing from Redis (restarted without persistence,
        flushed) or ended as failed, stopped or cancelled by RQ. None when it cannot be told
        (not an RQ job, Redis unreachable).

        :param job_id: the job (and its RQ job's id).
        :param runner: the job's recorded ``runner``.
        """
        if not isinstance(runner, RqRunnerRecord):
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
