"""Fair shares of the video queue, and about how long a sender waits for a place: each
session (or cookieless client) may have only so many jobs waiting or running; a refusal says
when one of them should end, from the frames left ahead at the running jobs' pace."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from faceinsight.jobs.runners import JobQueueFull
from faceinsight.jobs.store import JobState

SECONDS_PER_FRAME = 1.0  # a frame's analysis when no running job shows the real pace (measured 0.3-1.7)
RETRY_AFTER_RANGE_S = (5, 3600)


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

    field: Literal["owner", "client"]
    value: str
    limit: int
    who: str

    def holds(self, state: JobState) -> bool:
        """Whether a job's state counts against this share."""
        return bool(self.value) and getattr(state, self.field) == self.value


def spoken_wait(seconds: int) -> str:
    """A wait as a message says it: "40 s", "3 min"."""
    return f"{seconds} s" if seconds < 90 else f"{round(seconds / 60)} min"


def _remaining_frames(state: JobState) -> int:
    return max(1, state.frames_expected - state.frames_analyzed)


def seconds_per_frame(states: list[JobState], now: float) -> float:
    """The pace of the running jobs (their elapsed time over frames analysed), or
    :data:`SECONDS_PER_FRAME` when none has analysed a frame yet.

    :param states: unfinished jobs.
    :param now: the current time.
    """
    paces = [(now - s.started) / s.frames_analyzed for s in states
             if s.status == "running" and s.started and s.frames_analyzed > 0]
    return sum(paces) / len(paces) if paces else SECONDS_PER_FRAME


def wait_estimate_s(states: list[JobState], mine: Callable[[JobState], bool], workers: int,
                    now: float) -> int:
    """About how long until the first job ``mine`` selects ends: the frames left of every job
    ahead of it and its own (jobs run oldest first), at the running jobs' pace, over the jobs
    run at once. Within :data:`RETRY_AFTER_RANGE_S`.

    :param states: the unfinished jobs.
    :param mine: selects the jobs whose end frees the place asked for.
    :param workers: jobs run at once.
    :param now: the current time.
    """
    frames = 0
    for state in sorted(states, key=lambda s: s.created):
        frames += _remaining_frames(state)
        if mine(state):
            break
    seconds = math.ceil(frames * seconds_per_frame(states, now) / max(1, workers))
    low, high = RETRY_AFTER_RANGE_S
    return min(high, max(low, seconds))
