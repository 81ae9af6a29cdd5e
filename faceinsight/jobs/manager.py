"""The video jobs' interface for the web app: submit, inspect, cancel, delete, recover, sweep.

Jobs live in the file store (:mod:`faceinsight.jobs.store`) and run in a runner
(:mod:`faceinsight.jobs.runners`): in this process, or in RQ workers when ``REDIS_URL`` is set.
A job whose runner is gone (a server restart, a killed worker) is queued again from the start
while its upload is there, and failed with a reason otherwise.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faceinsight.jobs.access import new_job_id, valid_job_id
from faceinsight.jobs.liveness import RqRunnerRecord, ThreadRunnerRecord, thread_runner_gone
from faceinsight.jobs.runners import JobQueueFull, RqRunner, Runner, ThreadRunner
from faceinsight.jobs.shares import JobShareFull, Share, spoken_wait, wait_estimate_s
from faceinsight.jobs.spec import JobSpec
from faceinsight.jobs.store import JOBS, UNFINISHED, JobState, JobStore, is_stopped

log = logging.getLogger(__name__)

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
               client: str = "", share: Share | None = None) -> JobState:
        """Record a job as queued and hand it to the backend.

        :param job_id: from :meth:`new_job`.
        :param owner: the session that may read and delete it.
        :param spec: what to analyse (see :class:`JobSpec`).
        :param token_sha256: the hash of the job's token
            (:func:`~faceinsight.jobs.access.new_job_token`): whoever holds the token may read
            and delete it too.
        :param client: a cookieless sender's keyed address, for fair shares.
        :param share: the sender's share of the queue (checked with the job's admission).
        :raises JobShareFull: the sender already has its share of jobs (the job is removed).
        :raises JobQueueFull: the queue is full (the job and its folder are removed), with
            :func:`wait_estimate_s` as its ``retry_after_s``.
        """
        now = time.time()
        state = JobState(id=job_id, owner=owner, token_hash=token_sha256, client=client, name=spec.name,
                         status="queued", progress=0, error=None, created=now, updated=now,
                         sample_fps=spec.sample_fps, frames_analyzed=0,
                         frames_expected=spec.frames_expected, keep=spec.keep,
                         ttl_s=int(self.retention_s if spec.keep else self.job_ttl_s),
                         runner=self.runner.identity(), attempts=1, note=None)
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

    def wait_s(self, mine: Callable[[JobState], bool]) -> int:
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

    def get(self, job_id: str) -> JobState | None:
        """A job's state, or None when unknown (a dead process's running job is failed here).

        :param job_id: the job.
        """
        if not valid_job_id(job_id):
            return None
        return self._current_state(job_id, time.time())

    def _current_state(self, job_id: str, now: float) -> JobState | None:
        """A job's state, first dealing with a job whose runner is gone: re-queued, or failed
        (:meth:`_recover`); or failed when it has been silent too long (:func:`is_stopped`)."""
        state = self.store.load(job_id)
        if state and state.status in UNFINISHED and self._runner_gone(job_id, state, now):
            state = self._recover(job_id, state) or self.store.load(job_id)
        if is_stopped(state, now):
            state = self._record_stopped(job_id, now) or self.store.load(job_id)
        return state

    def _runner_gone(self, job_id: str, state: JobState, now: float) -> bool:
        """Whether the process or RQ job recorded as running an unfinished job has ended (a job
        recorded before runners were recorded is judged by its silence alone)."""
        runner = state.runner
        if runner is None:
            return False
        if isinstance(runner, RqRunnerRecord) and now - state.updated < RQ_GRACE_S:
            return False  # maybe not enqueued yet
        if runner.kind == self.backend:
            return bool(self.runner.gone(job_id, runner))
        # The other backend's job: a thread runner's process is checked; RQ cannot be asked
        # without Redis.
        return isinstance(runner, ThreadRunnerRecord) and thread_runner_gone(runner)

    def _recover(self, job_id: str, state: JobState) -> JobState | None:
        """Run a job again whose runner is gone, when its upload is still there; otherwise
        record it as failed, saying why, its upload deleted first. Once among all processes
        (:meth:`JobStore.claim`); the new state, or None when another process took it.
        """
        attempts = state.attempts
        if not self.store.claim(job_id, attempts):
            return None
        state = self.store.load(job_id)
        if not state or state.status not in UNFINISHED:
            return None  # it ended (or was deleted) meanwhile
        spec = self.store.load_spec(job_id)
        if spec is None or not Path(spec.video_path).is_file():
            reason = UPLOAD_GONE_REASON
        elif attempts >= MAX_ATTEMPTS:
            reason = TOO_MANY_RESTARTS_REASON.format(attempts)
        else:
            return self._requeue(job_id, spec, attempts + 1)
        log.warning("video job %s lost its runner; recorded as failed: %s", job_id, reason)
        keep = state.keep and spec is not None
        self.store.finish(job_id, keep, status="failed", error=reason, finished=time.time(),
                          note=RESTARTED_NOTE)
        return self.store.load(job_id)

    def _requeue(self, job_id: str, spec: JobSpec, attempt: int) -> JobState | None:
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
            if self._runner_gone(state.id, state, now):
                count += self._recover(state.id, state) is not None
        return count

    def _record_stopped(self, job_id: str, now: float) -> JobState | None:
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
        return now - state.updated > state.ttl_s

    def ping(self) -> None:
        """Check the backend answers (Redis with RQ; the jobs folder is checked lazily).

        :raises redis.exceptions.ConnectionError: Redis is not reachable.
        """
        if self.redis is not None:
            self.redis.ping()

    def shutdown(self) -> None:
        """Stop taking jobs (tests; gunicorn workers just exit)."""
        self.runner.shutdown()

