"""The RQ workers video jobs run in: ``rq worker --worker-class faceinsight.jobs.worker.JobWorker``.

rq polls a worker's command channel (stop a job, shut down) with a 60 s wait, and redis-py 8.2
waits for that poll to end before the worker may stop: an idle worker told to stop took up to a
minute to go, and ``make serve`` killed it after 30 s. These workers poll each second instead.
"""

from __future__ import annotations

from rq import SimpleWorker, Worker

COMMAND_POLL_S = 1.0  # how long the command listener waits for a message before checking to stop


class PromptStop:
    """Listen for rq's commands with a short poll, so stopping the worker is prompt."""

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=COMMAND_POLL_S, daemon=True,
            exception_handler=getattr(self, "_pubsub_exception_handler", None))


class JobWorker(PromptStop, Worker):
    """The worker process of deployments: each job runs in a forked child (rq's default)."""


class InProcessJobWorker(PromptStop, SimpleWorker):
    """Jobs run in the worker's own process (tests and benches)."""
