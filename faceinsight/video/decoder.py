"""Untrusted videos are decoded in a child process with CPU-time and memory limits.

OpenCV's FFmpeg reader can abort or segfault on hostile (or merely unusual) files, such as an
uncompressed bottom-up AVI. Probing a video and reading its frames therefore run in a child
(``python -m faceinsight.video.decoder``) that limits itself with ``setrlimit`` before it imports
OpenCV. The child sends records on its stdout: ``I`` (the probed facts, JSON), ``F`` (one sampled
frame), ``E`` (a refusal, with its message) and ``D`` (done). When it dies, runs out of time or
goes silent, the parent kills it and raises :class:`VideoError`: a server process never decodes
a video itself.

This module imports neither TensorFlow nor the models, so the child starts in a fraction of a
second.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Annotated, Any, BinaryIO

import numpy as np
from annotated_types import Ge

from faceinsight.paths import IMPORT_ROOT
from faceinsight.video.containers import container_extension

FALLBACK_FPS = 25.0  # containers that report no (or an absurd) frame rate
MIN_FPS = 0.01  # slower is taken as no frame rate; a slide show or time-lapse is read as it says
RECORD = struct.Struct("<cI")  # kind, payload length
FRAME_HEAD = struct.Struct("<qdII")  # source frame index, time in seconds, height, width
# The child's command line; tests replace it to stand in for a decoder that crashes or hangs.
READER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "faceinsight.video.decoder")
# The frames pipe's capacity: one 640x480 RGB frame fits, so the child decodes the next sample
# while this process analyses the last one (the default 64 KiB would make them take turns).
# 1 MiB is Linux's default ceiling for an unprivileged process (/proc/sys/fs/pipe-max-size).
PIPE_BYTES = 1 << 20
CHILD_ENV = {"OPENCV_FFMPEG_CAPTURE_OPTIONS": "threads;1", "OMP_NUM_THREADS": "1",
             "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}


class VideoError(ValueError):
    """The file is not a readable video, has no frames, or breaks a configured limit."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (frame_count may be 0 when unknown).

    The fields and their bounds are also those of :class:`faceinsight.contract.VideoMeta`,
    which is built from them.
    """

    fps: Annotated[float, Ge(0)]
    frame_count: Annotated[int, Ge(0)]
    duration_s: Annotated[float, Ge(0)]
    width: Annotated[int, Ge(1)]
    height: Annotated[int, Ge(1)]


@dataclass(frozen=True)
class DecoderLimits:
    """What one decoding child may use.

    :param memory_mb: its address-space limit (``RLIMIT_AS``), in MiB.
    :param probe_s: CPU and wall-clock seconds for probing (the upload check).
    :param read_cpu_s: CPU seconds for reading all sampled frames of one job.
    :param stall_s: wall-clock seconds the reader may go without sending a frame.
    """

    memory_mb: int = 2048
    probe_s: float = 20.0
    read_cpu_s: float = 1200.0
    stall_s: float = 60.0


# --- the child ---------------------------------------------------------------------------------

def apply_limits(cpu_s: float, memory_mb: int) -> None:
    """Limit this process: CPU seconds (SIGXCPU, then SIGKILL), address space, no core, no files.

    :param cpu_s: CPU seconds before SIGXCPU (SIGKILL 2 s later).
    :param memory_mb: address-space limit in MiB (allocations past it fail).
    """
    import resource

    cpu = max(1, math.ceil(cpu_s))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    memory = int(memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # the child writes no files


def check_container(path: str) -> None:
    """Refuse a file that is not in one of the supported video containers.

    :param path: the video file.
    :raises VideoError: unreadable, or not an mp4, mov, webm, mkv or avi container.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError as error:
        raise VideoError(f"the video cannot be read: {error.strerror or error}") from error
    if container_extension(head) is None:
        raise VideoError("the file is not a video: expected an mp4, mov, webm, mkv or avi container")


def check_frame_size(width: int, height: int, max_pixels: int) -> None:
    """Refuse frames of more than ``max_pixels`` pixels.

    :param width: frame width in pixels.
    :param height: frame height in pixels.
    :param max_pixels: the limit.
    :raises VideoError: naming the size and the limit.
    """
    if width * height > max_pixels:
        raise VideoError(f"the video's frames are {width}x{height}; the limit is {max_pixels:,} pixels")


def _open_capture(path: str) -> Any:
    """Open a video file with OpenCV's FFmpeg backend (never as an image sequence); child only."""
    import cv2

    cv2.setNumThreads(1)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise VideoError("the file is not a video this server can read (damaged, or an unsupported codec)")
    return capture


def _fps(capture: Any) -> float:
    import cv2

    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0)
    return fps if math.isfinite(fps) and MIN_FPS <= fps <= 1000.0 else FALLBACK_FPS


def read_info(path: str, max_pixels: int) -> VideoInfo:
    """Open a video, decode its first frame and read its properties (runs in the child).

    :param path: the video file.
    :param max_pixels: refuse frames larger than this many pixels.
    :raises VideoError: not a supported container, unreadable, no decodable frame, too large.
    """
    import cv2

    check_container(path)
    capture = _open_capture(path)
    try:
        fps = _fps(capture)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        # What the container claims, checked before a frame is decoded (a frame-size bomb)...
        check_frame_size(int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
                         int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0), max_pixels)
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None or frame.size == 0:
        raise VideoError("the video has no frames that can be decoded")
    height, width = frame.shape[:2]
    check_frame_size(width, height, max_pixels)  # ... and what the first frame really is
    count = max(count, 1)
    return VideoInfo(fps=fps, frame_count=count, duration_s=round(count / fps, 3),
                     width=int(width), height=int(height))


def read_samples(path: str, sample_fps: float, max_pixels: int) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(source frame index, time in seconds, RGB frame)`` about ``sample_fps`` times a second.

    Runs in the child. Frames between samples are only grabbed, not converted.

    :param path: the video file.
    :param sample_fps: sampled frames per second of video.
    :param max_pixels: refuse a frame larger than this (frames may change size mid-stream).
    """
    import cv2

    check_container(path)
    capture = _open_capture(path)
    try:
        fps = _fps(capture)
        interval = 1.0 / sample_fps
        next_time = 0.0
        index = 0
        while capture.grab():
            time_s = index / fps
            if time_s + 1e-6 >= next_time:
                ok, frame = capture.retrieve()
                if ok and frame is not None:
                    check_frame_size(frame.shape[1], frame.shape[0], max_pixels)
                    yield index, round(time_s, 3), cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                while next_time <= time_s + 1e-6:
                    next_time += interval
            index += 1
    finally:
        capture.release()


def _send(out: BinaryIO, kind: bytes, *parts: bytes) -> None:
    out.write(RECORD.pack(kind, sum(len(part) for part in parts)))
    for part in parts:
        out.write(part)
    out.flush()


def child_main(argv: list[str]) -> int:
    """The child's entry point: ``probe PATH MAX_PIXELS``, ``frames PATH SAMPLE_FPS MAX_PIXELS``
    or ``probe-frames PATH SAMPLE_FPS MAX_PIXELS`` (the probe's ``I`` record, then the frames),
    after ``CPU_S MEMORY_MB``.

    :param argv: the arguments after the module name.
    :returns: the exit status (0 also for a refused video: the ``E`` record says why).
    """
    cpu_s, memory_mb, command, path, *rest = argv
    apply_limits(float(cpu_s), int(memory_mb))
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library that prints cannot corrupt the record stream
    try:
        if command in ("probe", "probe-frames"):
            info = read_info(path, int(rest[-1]))
            _send(out, b"I", json.dumps(asdict(info)).encode())
        if command in ("frames", "probe-frames"):
            for index, time_s, rgb in read_samples(path, float(rest[0]), int(rest[1])):
                height, width = rgb.shape[:2]
                _send(out, b"F", FRAME_HEAD.pack(index, time_s, height, width), rgb.tobytes())
        _send(out, b"D")
    except VideoError as error:
        _send(out, b"E", str(error).encode())
    except MemoryError:
        _send(out, b"E", b"decoding the video needs more memory than the limit allows")
        return 1
    return 0


# --- the parent --------------------------------------------------------------------------------

def _describe_exit(returncode: int | None) -> str:
    """Why a child stopped, in words for the client."""
    if returncode is not None and returncode < 0:
        number = -returncode
        if number == signal.SIGXCPU:
            return "the decoder ran out of its CPU time limit"
        if number == signal.SIGKILL:
            return "the decoder was stopped at its time or memory limit"
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"the decoder crashed ({name})"
    return f"the decoder stopped (exit status {returncode})"


class DecoderProcess:
    """One decoding child and the records it sends; always killed on :meth:`close`.

    :param args: the child's arguments after its CPU and memory limits.
    :param cpu_s: the child's CPU-time limit.
    :param memory_mb: the child's memory limit.
    """

    def __init__(self, args: list[str], cpu_s: float, memory_mb: int):
        env = {**os.environ, **CHILD_ENV}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(IMPORT_ROOT), env.get("PYTHONPATH"))))
        command = [*READER_COMMAND, f"{cpu_s:g}", str(int(memory_mb)), *args]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, env=env, close_fds=True)
        self._fd = self.process.stdout.fileno()
        set_pipe_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
        if set_pipe_size is not None:
            with contextlib.suppress(OSError):  # over the system's ceiling: keep the default
                fcntl.fcntl(self._fd, set_pipe_size, PIPE_BYTES)
        self._poller = select.poll()  # not select(): a busy server's descriptors may pass 1024
        self._poller.register(self._fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def _read_exact(self, size: int, deadline: float) -> bytearray | None:
        """``size`` bytes from the child, or None at end of stream.

        :raises VideoError: nothing arrived before ``deadline`` (the child is killed).
        """
        chunks = bytearray()
        while len(chunks) < size:
            remaining_ms = (deadline - time.monotonic()) * 1000
            if remaining_ms <= 0 or not self._poller.poll(remaining_ms):
                self.close()
                raise VideoError("the video could not be decoded: the decoder took too long")
            chunk = os.read(self._fd, min(size - len(chunks), 1 << 20))
            if not chunk:
                return None
            chunks += chunk
        return chunks  # writable: frames are handed on as arrays without another copy

    def record(self, timeout_s: float) -> tuple[bytes, bytearray]:
        """The next record ``(kind, payload)``.

        :param timeout_s: wall-clock seconds to wait for all of it.
        :raises VideoError: the child refused the video (``E``), died, or went silent.
        """
        deadline = time.monotonic() + timeout_s
        head = self._read_exact(RECORD.size, deadline)
        kind, size = RECORD.unpack(head) if head else (b"", 0)
        payload = self._read_exact(size, deadline) if head else None
        if head is None or payload is None:
            raise VideoError(f"the video could not be decoded: {_describe_exit(self._wait())}")
        if kind == b"E":
            raise VideoError(payload.decode(errors="replace"))
        return kind, payload

    def _wait(self) -> int | None:
        """The child's exit status once its stream has ended (killed if it lingers)."""
        try:
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.close()
            return self.process.returncode

    def close(self) -> None:
        """Kill the child (if still running) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdout.close()


def probe(path: str, max_pixels: int, limits: DecoderLimits | None = None) -> VideoInfo:
    """Probe a video in a limited child: container, size, frame rate, first frame decodable.

    :param path: the video file.
    :param max_pixels: refuse frames larger than this many pixels.
    :param limits: the child's limits (defaults: :class:`DecoderLimits`).
    :raises VideoError: refused, or the decoder crashed, hit a limit or took too long.
    """
    limits = limits or DecoderLimits()
    child = DecoderProcess(["probe", str(path), str(int(max_pixels))], limits.probe_s, limits.memory_mb)
    try:
        kind, payload = child.record(limits.probe_s)
        if kind != b"I":
            raise VideoError("the video could not be decoded: the decoder sent no description")
        return VideoInfo(**json.loads(payload))
    finally:
        child.close()


def sampled_frames(path: str, sample_fps: float, max_pixels: int, limits: DecoderLimits | None = None,
                   on_info: Callable[[VideoInfo], None] | None = None,
                   ) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(source frame index, time in seconds, RGB frame)`` read by a limited child.

    Closing the generator early (a cancelled job) kills the child.

    :param path: the video file.
    :param sample_fps: sampled frames per second of video.
    :param max_pixels: refuse frames larger than this.
    :param limits: the child's limits (defaults: :class:`DecoderLimits`).
    :param on_info: when given, the same child probes the video first (one child start instead
        of two: :func:`probe`'s checks, its description within ``probe_s``) and this is called
        with the description before any frame is read; what it raises stops the reading.
    :raises VideoError: refused, or the decoder crashed, hit a limit or went silent.
    """
    limits = limits or DecoderLimits()
    command = "frames" if on_info is None else "probe-frames"
    child = DecoderProcess([command, str(path), repr(float(sample_fps)), str(int(max_pixels))],
                           limits.read_cpu_s, limits.memory_mb)
    try:
        if on_info is not None:
            kind, payload = child.record(limits.probe_s)
            if kind != b"I":
                raise VideoError("the video could not be decoded: the decoder sent no description")
            on_info(VideoInfo(**json.loads(payload)))
        while True:
            kind, payload = child.record(limits.stall_s)
            if kind == b"D":
                return
            index, time_s, height, width = FRAME_HEAD.unpack_from(payload)
            pixels = np.frombuffer(payload, np.uint8, offset=FRAME_HEAD.size)
            yield index, time_s, pixels.reshape(height, width, 3)
    finally:
        child.close()


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
