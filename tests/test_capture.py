"""``capture.py`` on small videos made from the astronaut photo (no camera needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from face_helpers import REPO, assert_face_contract, box_on_astronaut_face

from faceinsight import capture

BLANK_FRAMES = 3


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    """Write RGB frames as a Motion-JPEG AVI (a codec every OpenCV build can write and read)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MJPG video here"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def face_video(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    """Three blank frames, then the astronaut for five frames."""
    blank = np.full_like(astronaut, 90)
    frames = [blank] * BLANK_FRAMES + [astronaut] * 5
    return write_video(tmp_path_factory.mktemp("video") / "astronaut.avi", frames)


@pytest.fixture(scope="module")
def blank_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six frames of a plain wall: no face anywhere."""
    frames = [np.full((240, 320, 3), 90 + 10 * i, np.uint8) for i in range(6)]
    return write_video(tmp_path_factory.mktemp("video") / "wall.avi", frames)


def run_capture(*args: str | Path) -> subprocess.CompletedProcess:
    """Run ``capture.py`` in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, str(REPO / "capture.py"), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_capture_from_a_video_file(face_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "captures"
    done = run_capture("--source", face_video, "--out", out, "--json")
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    record = json.loads(line)
    assert set(record) == {"file", "faces", "error"} and record["error"] is None
    [face] = record["faces"]
    assert_face_contract(face)
    assert box_on_astronaut_face(face["box"])
    assert f"face found in frame {BLANK_FRAMES + 1}" in done.stderr
    assert "INFO:" not in done.stderr  # the model runtime's lines only with --verbose, as predict.py

    saved = {path.name.rsplit("-", 1)[1]: path for path in out.iterdir()}
    assert set(saved) == {"frame.jpg", "face.jpg", "face128.png", "face48.png"}
    assert record["file"] == str(saved["frame.jpg"])
    frame = cv2.imread(str(saved["frame.jpg"]))
    assert frame.shape == (512, 512, 3)
    x, y, w, h = face["box"]
    assert cv2.imread(str(saved["face.jpg"])).shape == (h, w, 3)
    for name, size in (("face128.png", 128), ("face48.png", 48)):
        crop = cv2.imread(str(saved[name]), cv2.IMREAD_UNCHANGED)
        assert crop.shape == (size, size) and crop.dtype == np.uint8


def test_capture_human_output(face_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert capture.main(["--source", str(face_video), "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"face found in frame {BLANK_FRAMES + 1} of {face_video}"
    assert sum(line.startswith("saved ") for line in lines) == 4
    frame_path = next(tmp_path.glob("*-frame.jpg"))
    assert lines[-1].startswith(f"{frame_path} face 1 at (")


def test_no_face_within_max_frames(face_video: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    assert capture.main(["--source", str(face_video), "--out", str(tmp_path),
                         "--max-frames", str(BLANK_FRAMES)]) == 1
    err = capsys.readouterr().err
    assert f"no face found in {BLANK_FRAMES} frame(s)" in err and "--max-frames" in err
    assert not list(tmp_path.iterdir())


def test_no_face_in_the_whole_video(blank_video: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture) -> None:
    assert capture.main(["--source", str(blank_video), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no face found in 6 frame(s)" in err and "the stream ended" in err
    assert "--max-frames" not in err  # more frames would not help: there are none


def test_missing_video_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert capture.main(["--source", str(tmp_path / "absent.mp4")]) == 2
    assert "no such video file" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["portrait.JPG", "portrait.jfif", "portrait"])
def test_a_photo_is_sent_to_predict(tmp_path: Path, capsys: pytest.CaptureFixture, name: str) -> None:
    """Known by its content, whatever its name: OpenCV read it as a one-frame video without
    its EXIF turn (a sideways portrait read as a man of 50)."""
    photo = tmp_path / name
    photo.write_bytes(cv2.imencode(".jpg", np.zeros((40, 40, 3), np.uint8))[1].tobytes())
    assert capture.main(["--source", str(photo), "--out", str(tmp_path / "out")]) == 2
    assert f"{photo} is a photo; capture.py reads a camera or a video: predict.py {photo}" in \
        capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("source", "words"), [("", "no video file given"), (".", "is a folder")])
def test_a_source_that_is_no_file_is_named(source: str, words: str, capsys) -> None:
    assert capture.main(["--source", source]) == 2
    assert words in capsys.readouterr().err


def test_a_file_that_is_not_a_video(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bogus = tmp_path / "notes.avi"
    bogus.write_text("not a video\n")
    assert capture.main(["--source", str(bogus), "--out", str(tmp_path / "out")]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_camera_that_is_not_there(capsys: pytest.CaptureFixture) -> None:
    assert capture.main(["--device", "97"]) == 2
    assert "camera 97" in capsys.readouterr().err


def test_missing_models(fresh_models: None, face_video: Path, tmp_path: Path,
                        capsys: pytest.CaptureFixture) -> None:
    assert capture.main(["--source", str(face_video), "--models", str(tmp_path)]) == 2
    assert "manifest not found" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value"),
                         [("--device", "-1"), ("--max-frames", "0"), ("--max-frames", "-5")])
def test_numbers_out_of_range_are_refused_before_anything_opens(option: str, value: str,
                                                                  capsys: pytest.CaptureFixture) -> None:
    """A negative camera index crashed OpenCV (segmentation fault) when no camera was there."""
    with pytest.raises(SystemExit) as stopped:
        capture.main([option, value])
    assert stopped.value.code == 2 and f"argument {option}: must be" in capsys.readouterr().err


def test_an_out_folder_that_cannot_be_made_is_one_line(face_video: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    a_file = tmp_path / "taken.jpg"
    a_file.write_bytes(b"a file where the folder should go")
    for out in (a_file, a_file / "below"):
        assert capture.main(["--source", str(face_video), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"error: cannot save into {out}" in err and "Traceback" not in err
    assert a_file.read_bytes() == b"a file where the folder should go"
