"""Whether the runner of an unfinished video job is still there: each job records who runs it
(a process on this machine, or an RQ queue), so that another process can tell a job still
running from one whose process has ended."""

from __future__ import annotations

import os
import socket
import weakref
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class ThreadRunnerRecord(BaseModel):
    """The process (and the thread runner in it) that runs a job.

    :param host: the machine's name (only a process on this machine can be checked).
    :param boot: the machine's boot id (a pid is only meaningful within one boot).
    :param pid: the process id.
    :param started: when the process started (tells a reused pid from the one recorded).
    :param token: the runner within its process.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["thread"] = "thread"
    host: str
    boot: str
    pid: int
    started: str
    token: str


class RqRunnerRecord(BaseModel):
    """The RQ queue a job was sent to (its RQ job has the job's id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["rq"] = "rq"
    queue: str


RunnerRecord = Annotated[ThreadRunnerRecord | RqRunnerRecord, Field(discriminator="kind")]

# The thread runners alive in this process, by their token: a job recorded by this process but
# by a runner since shut down (tests; an app made again) has lost its runner.
LIVE_RUNNERS: weakref.WeakValueDictionary[str, object] = weakref.WeakValueDictionary()


def boot_id() -> str:
    """This machine's boot id ("" where the system has none to give)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str | None:
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


def thread_runner_identity(token: str) -> ThreadRunnerRecord:
    """What a thread-runner job records about the process that runs it.

    :param token: the runner's own token within its process (see :data:`LIVE_RUNNERS`).
    """
    pid = os.getpid()
    return ThreadRunnerRecord(host=socket.gethostname(), boot=boot_id(), pid=pid,
                              started=process_start(pid) or "", token=token)


def thread_runner_gone(runner: ThreadRunnerRecord) -> bool:
    """Whether the process (and the runner in it) that was to run a thread-runner job has ended.

    Only a process on this machine can be checked: a job of another host (a shared upload
    folder) counts as running here, and the silence rule (:func:`~faceinsight.jobs.store.is_stopped`)
    still applies.

    :param runner: the job's recorded runner.
    """
    if runner.host != socket.gethostname():
        return False
    boot = boot_id()
    if runner.boot and boot and runner.boot != boot:
        return True  # the machine restarted since
    started = process_start(runner.pid) if runner.pid > 0 else None
    if started is None or (started and runner.started and started != runner.started):
        return True  # no such process, or another one under a reused pid
    if runner.pid == os.getpid():
        return runner.token not in LIVE_RUNNERS
    return False
