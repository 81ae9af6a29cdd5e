"""Holding up under load: a bounded number of analyses at once, a bounded queue behind them, no
analysis for a client that has gone, and deadlines on a slow client's reads and writes.

One process has a few analysis slots (its cores' worth) and a short queue. A photo that finds
both full gets a fast 503 with an honest ``Retry-After``, where it used to wait in a thread for
minutes while more came; one whose client hung up while it waited is not analysed. Threads that
only read uploads, answer ``/health`` or serve the page never wait for a slot, so the server
answers them while every slot is busy.

A client that sends its body slower than a floor rate (after a grace period) gets 408, and one
that stops sending or reading for the I/O timeout loses its connection, instead of holding a
thread for as long as it likes. Internet-facing deployments also put a buffering proxy in
front (docs/OPERATIONS.md): it holds slow clients itself, without a thread each.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from werkzeug.exceptions import RequestTimeout

log = logging.getLogger(__name__)

GUNICORN_SOCKET = "gunicorn.socket"  # the client connection gunicorn puts in each request's environ


class ServerBusyError(Exception):
    """Every analysis slot and queue place is taken: try again in ``retry_after_s``."""

    def __init__(self, retry_after_s: int):
        super().__init__(f"the server is busy analysing other photos; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class ClientGoneError(Exception):
    """The client closed its connection while its photo waited: nobody would read the answer."""


class AnalysisGate:
    """At most ``running`` analyses at once and ``waiting`` more queued, per process.

    :param running: analyses that run at once (about the cores a process may use).
    :param waiting: requests that may wait for a slot; the next one gets :class:`ServerBusyError`.
    :param wait_s: the longest a request waits for a slot before it too is told to come back.
    """

    def __init__(self, running: int, waiting: int, wait_s: float = 30.0):
        self.running, self.waiting, self.wait_s = running, waiting, wait_s
        self._slots = threading.Semaphore(running)
        self._lock = threading.Lock()
        self._admitted = 0  # running and waiting
        self._mean_s = 0.5  # a running mean of one analysis's time, for Retry-After

    @property
    def admitted(self) -> int:
        """Requests running or waiting now."""
        return self._admitted

    def _expected_wait_s(self) -> float:
        """How long one more request would wait for a slot, at the recent analysis time."""
        ahead = self._admitted - self.running + 1
        return max(0, ahead) / self.running * self._mean_s

    def retry_after_s(self) -> int:
        """Seconds until a place is likely free: the queue ahead, at the recent analysis time."""
        return max(1, math.ceil(self._admitted / self.running * self._mean_s))

    @contextmanager
    def slot(self, client_gone: Callable[[], bool] = lambda: False) -> Iterator[None]:
        """Hold one analysis slot for the ``with`` block.

        :param client_gone: asked once a slot is free; True skips the analysis.
        :raises ServerBusyError: no queue place, or no slot within ``wait_s``.
        :raises ClientGoneError: the client left while the request waited.
        """
        with self._lock:
            # Full, or a wait longer than it would be given: told at once, not after wait_s.
            if self._admitted >= self.running + self.waiting or self._expected_wait_s() > self.wait_s:
                raise ServerBusyError(self.retry_after_s())
            self._admitted += 1
        try:
            if not self._slots.acquire(timeout=self.wait_s):
                raise ServerBusyError(self.retry_after_s())
            try:
                if client_gone():
                    raise ClientGoneError
                started = time.monotonic()
                yield
                self._mean_s = 0.8 * self._mean_s + 0.2 * (time.monotonic() - started)
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._admitted -= 1


def client_gone(environ: dict[str, Any]) -> bool:
    """Whether the request's client has closed its connection (gunicorn only; False elsewhere).

    A peek that does not wait: an orderly close reads as end of file, a reset as an error;
    a client still there has nothing to read (or its next request on the same connection).
    """
    sock = environ.get(GUNICORN_SOCKET)
    if sock is None:
        return False
    previous = sock.gettimeout()
    try:
        sock.settimeout(0.0)  # with a timeout set, Python waits for data even with MSG_DONTWAIT
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    finally:
        try:
            sock.settimeout(previous)
        except OSError:
            pass


class SlowUploadError(RequestTimeout):
    """The body arrives slower than the floor rate (408, with the JSON error body)."""

    description = "the upload arrived too slowly; check the connection and try again"


class ReadWatchdog:
    """Cuts off the reading side of a connection whose current read has run past its deadline,
    which wakes the blocked read (the answer can still be written). One thread per process,
    started on first use (after gunicorn's fork), looking a few times a second.

    :param period_s: how often deadlines are looked at.
    """

    def __init__(self, period_s: float = 0.25):
        self.period_s = period_s
        self._reads: dict[int, tuple[float, socket.socket]] = {}
        self._cut: set[int] = set()
        self._lock = threading.Lock()
        self._next = 0
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> int:
        """Watch a read of ``sock`` that must end by ``deadline`` (monotonic); returns its token."""
        with self._lock:
            self._next += 1
            self._reads[self._next] = (deadline, sock)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="read-watchdog", daemon=True)
                self._thread.start()
            return self._next

    def done(self, token: int) -> bool:
        """Stop watching a read; returns whether it was cut off."""
        with self._lock:
            self._reads.pop(token, None)
            if token in self._cut:
                self._cut.discard(token)
                return True
            return False

    def _run(self) -> None:
        while True:
            time.sleep(self.period_s)
            now = time.monotonic()
            with self._lock:
                late = [(token, sock) for token, (deadline, sock) in self._reads.items() if deadline < now]
                for token, _ in late:
                    del self._reads[token]
                    self._cut.add(token)
            for _, sock in late:
                try:
                    sock.shutdown(socket.SHUT_RD)
                except OSError:
                    pass  # already closed


WATCHDOG = ReadWatchdog()


class DeadlineInput:
    """A request body stream that gives up on a client sending slower than ``min_rate``.

    Each read of n bytes must end within n / ``min_rate`` seconds (and at least ``grace_s``: a
    connection's slow start, a phone waking); under gunicorn a read past that is cut off by
    :data:`WATCHDOG` and the request ends with :class:`SlowUploadError` (408). Elsewhere (no
    socket to cut) reads are passed through.

    :param stream: the server's ``wsgi.input``.
    :param sock: the client's connection (gunicorn's), or None.
    :param length: the declared body length (for a read of everything), or 0.
    :param min_rate: bytes per second the upload must keep to.
    :param grace_s: the least time a read is given.
    """

    def __init__(self, stream: IO[bytes], sock: socket.socket | None, length: int, min_rate: float,
                 grace_s: float):
        self.stream, self.sock, self.length = stream, sock, length
        self.min_rate, self.grace_s = min_rate, grace_s

    @contextmanager
    def _deadline(self, size: int) -> Iterator[None]:
        if self.sock is None:
            yield
            return
        wanted = size if size is not None and size > 0 else self.length
        token = WATCHDOG.watch(self.sock, time.monotonic() + max(self.grace_s, wanted / self.min_rate))
        try:
            yield
        finally:
            if WATCHDOG.done(token):
                raise SlowUploadError

    def read(self, size: int = -1) -> bytes:
        with self._deadline(size):
            return self.stream.read(size)

    def readline(self, size: int = -1) -> bytes:
        with self._deadline(0):
            return self.stream.readline(size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        with self._deadline(hint):
            return self.stream.readlines(hint)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class ClientDeadlines:
    """WSGI middleware: every read and write on the client's connection times out after
    ``io_timeout_s`` without progress, and a body must keep to ``min_rate`` bytes a second.

    Under gunicorn each request's socket gets the timeout (gthread makes it blocking again for
    the next request on the connection); other servers (the tests' werkzeug) get the rate floor.

    :param app: the WSGI app.
    :param io_timeout_s: seconds a read or write of the client's socket may wait.
    :param min_rate: bytes per second a request body must average after ``grace_s``.
    :param grace_s: seconds before the rate floor applies.
    """

    def __init__(self, app: Callable, io_timeout_s: float, min_rate: float, grace_s: float):
        self.app, self.io_timeout_s, self.min_rate, self.grace_s = app, io_timeout_s, min_rate, grace_s

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        sock = environ.get(GUNICORN_SOCKET)
        if sock is not None:
            try:
                sock.settimeout(self.io_timeout_s)
            except OSError:
                pass  # already closed: the read will say so
        if environ.get("CONTENT_LENGTH") or environ.get("HTTP_TRANSFER_ENCODING"):
            declared = str(environ.get("CONTENT_LENGTH") or "")
            length = int(declared) if declared.isdigit() else 0
            environ["wsgi.input"] = DeadlineInput(environ["wsgi.input"], sock, length, self.min_rate,
                                                  self.grace_s)
        return self.app(environ, start_response)
