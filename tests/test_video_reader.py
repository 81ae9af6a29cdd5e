"""The decoding child's faster paths (issue 11): a video not probed yet is probed by the child that
then reads its frames (one child start, not two), with the same answers and the same refusals;
and the frames pipe holds a whole 640x480 frame so decoding overlaps analysis."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceinsight.images import DEFAULT_MAX_PIXELS
from faceinsight.video import decoder
from faceinsight.video.analysis import VideoTooLong, analyze_video, expected_samples
from faceinsight.video.decoder import VideoError, probe


@pytest.fixture(scope="module")
def clip(tmp_path_factory, astronaut: np.ndarray) -> Path:
    """A 3 s, 10 frames/s, 640x480 MJPG clip of the astronaut drifting sideways."""
    path = tmp_path_factory.mktemp("reader") / "astronaut.avi"
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 80:560] = cv2.cvtColor(cv2.resize(astronaut, (480, 480)), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    for i in range(30):
        writer.write(np.roll(frame, i * 3, axis=1))
    writer.release()
    return path


@pytest.fixture
def children(monkeypatch) -> list[list[str]]:
    """The arguments of every decoding child started while the test runs."""
    started: list[list[str]] = []
    real_init = decoder.DecoderProcess.__init__

    def counting(self, args, cpu_s, memory_mb):
        started.append(list(args))
        real_init(self, args, cpu_s, memory_mb)

    monkeypatch.setattr(decoder.DecoderProcess, "__init__", counting)
    return started


def test_unprobed_video_takes_one_child_and_matches_the_probed_path(clip: Path, children) -> None:
    info = probe(str(clip), DEFAULT_MAX_PIXELS)
    assert (info.width, info.height) == (640, 480)
    probed_first = analyze_video(str(clip), 2.0, info=info)
    children.clear()
    in_one = analyze_video(str(clip), 2.0)
    assert [args[0] for args in children] == ["probe-frames"]
    assert in_one == probed_first
    assert in_one["summary"]["frames_with_faces"] == len(in_one["frames"]) == 6


def test_the_limits_still_refuse_before_any_frame_is_analysed(clip: Path) -> None:
    analysed = []
    with pytest.raises(VideoTooLong, match="the limit is 1 s"):
        analyze_video(str(clip), 2.0, max_seconds=1.0, progress=lambda done, _: analysed.append(done))
    with pytest.raises(VideoTooLong, match="choose a lower sampling rate"):
        analyze_video(str(clip), 10.0, max_frames=5, progress=lambda done, _: analysed.append(done))
    assert analysed == []


def test_a_refusal_from_the_probing_reader_is_a_video_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoError, match="expected an mp4, mov, webm, mkv or avi container"):
        analyze_video(str(text), 2.0)


def test_the_frames_pipe_holds_a_whole_640x480_frame(clip: Path) -> None:
    fcntl = pytest.importorskip("fcntl")
    if not hasattr(fcntl, "F_GETPIPE_SZ"):
        pytest.skip("pipe sizes are a Linux feature")
    ceiling = Path("/proc/sys/fs/pipe-max-size")
    if ceiling.exists() and int(ceiling.read_text()) < decoder.PIPE_BYTES:
        pytest.skip("this system caps pipes below 1 MiB")
    child = decoder.DecoderProcess(["probe", str(clip), "1000000"], 20, 2048)
    try:
        size = fcntl.fcntl(child.process.stdout.fileno(), fcntl.F_GETPIPE_SZ)
    finally:
        child.close()
    assert size >= 640 * 480 * 3 + decoder.FRAME_HEAD.size + decoder.RECORD.size


def test_a_video_slower_than_one_frame_a_second_keeps_its_own_rate(tmp_path: Path,
                                                                   astronaut: np.ndarray) -> None:
    """A slide show at 0.5 frames/s was read as 25 frames/s: 0.4 s long, one frame analysed."""
    path = tmp_path / "slides.avi"
    frame = cv2.cvtColor(cv2.resize(astronaut, (320, 320)), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 0.5, (320, 320))
    for _ in range(10):
        writer.write(frame)
    writer.release()
    info = probe(str(path), DEFAULT_MAX_PIXELS)
    assert info.fps == pytest.approx(0.5) and info.duration_s == pytest.approx(20.0)
    results = analyze_video(str(path), 2.0, info=info)
    assert [frame["time_s"] for frame in results["frames"]] == pytest.approx([2.0 * i for i in range(10)])
    assert results["sample_fps"] == pytest.approx(0.5)  # the rate read at, not the 2.0 asked for
    with pytest.raises(VideoTooLong):
        analyze_video(str(path), 2.0, info=info, max_seconds=10.0)  # its real length counts


@pytest.mark.parametrize(("fps", "frames", "sample_fps"), [
    (29.97, 90, 10.0), (29.97, 90, 2.0), (30.0, 90, 10.0), (25.0, 51, 3.0), (5.0, 20, 2.0),
    (5.0, 20, 10.0), (23.976, 48, 0.5)])
def test_the_expected_frame_count_is_the_count_read(tmp_path: Path, fps: float, frames: int,
                                                    sample_fps: float) -> None:
    """A 29.97 frames/s video sampled at 10 reads 30 frames; 31 were expected (ceil of 90 / 2.997),
    which the job's progress and the frame limit's refusal both used."""
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (32, 32))
    for i in range(frames):
        writer.write(np.full((32, 32, 3), i % 256, np.uint8))
    writer.release()
    read = sum(1 for _ in decoder.read_samples(str(path), sample_fps, 10_000))
    info = decoder.VideoInfo(fps=fps, frame_count=frames, duration_s=frames / fps, width=32, height=32)
    assert expected_samples(info, sample_fps) == read
