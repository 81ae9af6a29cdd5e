"""``predict.py``: the JSON contract, the human-readable lines, bad files and exit statuses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from face_helpers import (
    REPO,
    assert_face_contract,
    box_on_astronaut_face,
    encode,
    encode_heic,
    jpeg_claiming,
    png_claiming,
)
from PIL import Image

from faceinsight import cli

HUMAN_LINE = re.compile(
    r"^(?P<file>.+) face (?P<n>\d+) at \((?P<box>\d+, \d+, \d+, \d+)\): age \d+ \(\d+-\d+, "
    r"group (0-18|19-30|31-80|80\+)\), (male|female) \d+%, "
    r"(angry|disgust|fear|happy|neutral|sad|surprise) \d+%$")


def run_predict(*args: str | Path) -> subprocess.CompletedProcess:
    """Run ``predict.py`` in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, str(REPO / "predict.py"), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def json_lines(stdout: str) -> list[dict]:
    """Every stdout line must be one JSON object."""
    records = [json.loads(line) for line in stdout.splitlines()]
    assert all(isinstance(r, dict) for r in records)
    return records


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    """A folder tree: a full photo, a nested copy, a text file named .jpg and a truncated JPEG."""
    root = tmp_path_factory.mktemp("photos")
    jpeg = encode(astronaut, "JPEG", quality=90)
    (root / "astronaut.jpg").write_bytes(jpeg)
    nested = root / "nested" / "deeper"
    nested.mkdir(parents=True)
    (nested / "astronaut.PNG").write_bytes(encode(astronaut, "PNG"))
    Image.fromarray(astronaut).save(root / "astronaut.gif")  # read as the web upload reads them
    Image.fromarray(astronaut).save(nested / "astronaut.tiff")
    (nested / "IMG_0001.HEIC").write_bytes(encode_heic(astronaut))  # a phone's photo
    (root / "not-a-photo.jpg").write_text("this is a text file with a .jpg name\n")
    (root / "truncated.jpg").write_bytes(jpeg[:len(jpeg) // 3])
    (root / "notes.txt").write_text("ignored: not an image extension\n")
    return root


@pytest.fixture(scope="module")
def crop_file(tmp_path_factory: pytest.TempPathFactory, face_crop: np.ndarray) -> Path:
    """The astronaut's face alone, saved as a JPEG."""
    path = tmp_path_factory.mktemp("crops") / "face.jpg"
    path.write_bytes(encode(face_crop, "JPEG", quality=95))
    return path


READABLE = ["astronaut.gif", "astronaut.jpg", "nested/deeper/IMG_0001.HEIC", "nested/deeper/astronaut.PNG",
            "nested/deeper/astronaut.tiff"]
EXPECTED_ORDER = [*READABLE, "not-a-photo.jpg", "truncated.jpg"]


def check_folder_records(records: list[dict], root: Path) -> None:
    """The seven images of ``photo_folder``, in sorted order, each with the right outcome."""
    assert [Path(r["file"]).relative_to(root).as_posix() for r in records] == sorted(EXPECTED_ORDER)
    by_name = {Path(r["file"]).relative_to(root).as_posix(): r for r in records}
    for record in records:
        assert list(record) == ["file", "faces", "faces_found", "error"]
        assert record["faces_found"] == len(record["faces"])
    for name in READABLE:
        record = by_name[name]
        assert record["error"] is None and len(record["faces"]) == 1
        assert_face_contract(record["faces"][0])
        assert box_on_astronaut_face(record["faces"][0]["box"])
    for name in ("not-a-photo.jpg", "truncated.jpg"):
        record = by_name[name]
        assert record["faces"] == []
        assert isinstance(record["error"], str) and record["error"]


def test_json_on_a_folder_tree(photo_folder: Path) -> None:
    done = run_predict("--json", photo_folder)
    assert done.returncode == 1, done.stderr  # some files could not be read
    check_folder_records(json_lines(done.stdout), photo_folder)


def test_output_cut_short_stops_quietly(photo_folder: Path) -> None:
    """``predict.py FOLDER | head -1``: the reader goes away after one line; no traceback."""
    with subprocess.Popen([sys.executable, str(REPO / "predict.py"), "--json", str(photo_folder)],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        first = process.stdout.readline()
        process.stdout.close()
        errors = process.stderr.read().decode()
        process.wait(timeout=120)
    assert json.loads(first)["file"].endswith("astronaut.gif")
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
    assert process.returncode == 1


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_output_that_cannot_be_written_is_one_line(crop_file: Path) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, str(REPO / "predict.py"), str(crop_file)], cwd=REPO,
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == "error: could not write the results: No space left on device"


def test_json_no_detect_on_a_face_crop(crop_file: Path, face_crop: np.ndarray) -> None:
    done = run_predict("--json", "--no-detect", crop_file)
    assert done.returncode == 0, done.stderr
    [record] = json_lines(done.stdout)
    assert record["file"] == str(crop_file) and record["error"] is None
    [face] = record["faces"]
    assert_face_contract(face)
    height, width = face_crop.shape[:2]
    assert face["box"] == [0, 0, width, height]


def test_human_readable_output(photo_folder: Path) -> None:
    done = run_predict(photo_folder / "astronaut.jpg", photo_folder / "truncated.jpg")
    assert done.returncode == 1
    assert done.stderr == ""  # not even the runtime's "INFO: Created ... XNNPACK delegate"
    face_line, error_line = done.stdout.splitlines()
    match = HUMAN_LINE.match(face_line)
    assert match and match["file"] == str(photo_folder / "astronaut.jpg") and match["n"] == "1"
    assert box_on_astronaut_face([int(v) for v in match["box"].split(", ")])
    assert error_line.startswith(f"{photo_folder / 'truncated.jpg'}: error: ")


def test_the_runtime_speaks_only_when_asked(crop_file: Path) -> None:
    """LiteRT writes "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." to stderr as the
    models load, on every run; --verbose shows it, and a run without it prints nothing there."""
    quiet = run_predict("--json", crop_file)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    verbose = run_predict("--json", "--verbose", crop_file)
    assert verbose.returncode == 0 and "INFO: Created TensorFlow Lite XNNPACK delegate" in verbose.stderr
    assert json_lines(quiet.stdout) == json_lines(verbose.stdout)


def test_other_messages_written_while_models_load_still_show(capfd: pytest.CaptureFixture) -> None:
    with cli.runtime_info_hidden():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"ERROR: something the user must see\n")
    assert capfd.readouterr().err == "ERROR: something the user must see\n"


def test_faces_are_listed_left_to_right(tmp_path: Path, astronaut: np.ndarray,
                                        capsys: pytest.CaptureFixture) -> None:
    """The smaller face on the left is face 1 (faces were listed largest first)."""
    small = np.zeros((512, 384, 3), np.uint8)
    small[64:448] = cv2.resize(astronaut, (384, 384), interpolation=cv2.INTER_AREA)
    path = tmp_path / "two.png"
    path.write_bytes(encode(np.hstack([small, astronaut]), "PNG"))
    assert cli.main(["--json", str(path)]) == 0
    [record] = json_lines(capsys.readouterr().out)
    boxes = [face["box"] for face in record["faces"]]
    assert record["faces_found"] == len(boxes) == 2
    assert boxes[0][0] < boxes[1][0] and boxes[0][2] < boxes[1][2]


def test_missing_models_folder_is_a_clear_error(tmp_path: Path, photo_folder: Path) -> None:
    done = run_predict("--models", tmp_path, photo_folder)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "error:" in done.stderr and "manifest" in done.stderr and str(tmp_path) in done.stderr


# --- in process: faster, same entry point ---------------------------------------------------


def test_main_json_in_process(photo_folder: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["--json", str(photo_folder)]) == 1
    check_folder_records(json_lines(capsys.readouterr().out), photo_folder)


def test_main_all_good_exits_zero(crop_file: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["--json", "--no-detect", str(crop_file), str(crop_file)]) == 0
    records = json_lines(capsys.readouterr().out)
    assert len(records) == 2 and all(r["error"] is None for r in records)


def test_main_reports_a_missing_path_and_goes_on(tmp_path: Path, crop_file: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "absent.jpg"
    assert cli.main(["--json", "--no-detect", str(missing), str(crop_file)]) == 1
    first, second = json_lines(capsys.readouterr().out)
    assert first["file"] == str(missing) and first["faces"] == [] and "cannot read" in first["error"]
    assert second["error"] is None and len(second["faces"]) == 1


def test_main_photo_without_a_face(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blank = tmp_path / "wall.png"
    blank.write_bytes(encode(np.full((120, 160, 3), 200, np.uint8), "PNG"))
    assert cli.main([str(blank)]) == 0
    assert capsys.readouterr().out.strip() == f"{blank}: no face found"
    assert cli.main(["--json", str(blank)]) == 0
    assert json_lines(capsys.readouterr().out) == [{"file": str(blank), "faces": [], "faces_found": 0,
                                                    "error": None}]


def test_hidden_files_and_folders_are_left_out(tmp_path: Path, crop_file: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    """macOS leaves ``._name.jpg`` resource forks beside photos; they are not photos."""
    (tmp_path / "face.jpg").write_bytes(crop_file.read_bytes())
    (tmp_path / "._face.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / ".thumbnails").mkdir()
    (tmp_path / ".thumbnails" / "face.jpg").write_bytes(crop_file.read_bytes())
    assert cli.main([str(tmp_path), "--json", "--no-detect"]) == 0
    assert [Path(r["file"]).name for r in json_lines(capsys.readouterr().out)] == ["face.jpg"]


def test_a_file_name_that_is_not_utf8_gives_valid_json(tmp_path: Path, crop_file: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    odd = os.fsdecode(b"\xff\xfe-face.jpg")
    (tmp_path / odd).write_bytes(crop_file.read_bytes())
    (tmp_path / os.fsdecode(b"\xff-broken.jpg")).write_bytes(b"not an image")
    assert cli.main([str(tmp_path), "--json", "--no-detect"]) == 1
    out = capsys.readouterr().out
    out.encode("utf-8")  # strict: no lone surrogates left for a JSON reader to refuse
    records = json_lines(out)
    assert [Path(r["file"]).name for r in records] == ["\\xff-broken.jpg", "\\xff\\xfe-face.jpg"]
    assert records[0]["error"] and records[1]["faces"]


def test_main_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main([str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "no image files found" in captured.err


def test_main_missing_models(fresh_models: None, tmp_path: Path, crop_file: Path,
                             capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["--models", str(tmp_path), str(crop_file)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "manifest not found" in captured.err


def test_describe_formats_every_face() -> None:
    face = {"box": [1, 2, 30, 40], "age": 31.4, "age_range": [26, 37], "age_group": "31-80",
            "gender": "female", "gender_probability": 0.93, "emotion": "happy",
            "emotion_scores": {"angry": 0.0, "disgust": 0.0, "fear": 0.0, "happy": 0.9,
                               "neutral": 0.1, "sad": 0.0, "surprise": 0.0}}
    lines = cli.describe({"file": "x.jpg", "faces": [face, face], "error": None})
    assert lines == [
        f"x.jpg face {n} at (1, 2, 30, 40): age 31 (26-37, group 31-80), female 93%, happy 90%"
        for n in (1, 2)]
    assert all(HUMAN_LINE.match(line) for line in lines)
    assert cli.describe({"file": "x.jpg", "faces": [face, face], "faces_found": 2, "error": None}) == lines
    capped = cli.describe({"file": "x.jpg", "faces": [face, face], "faces_found": 130, "error": None})
    assert capped == ["x.jpg: 130 faces found; the 2 surest were read", *lines]


# --- hostile and odd files ------------------------------------------------------------------


def hostile_files(folder: Path, astronaut: np.ndarray) -> dict[str, str | None]:
    """Write odd and hostile files; returns each name and the words its error must hold
    (None: it must be read, with or without faces)."""
    jpeg = encode(astronaut, "JPEG", quality=85)
    pil = Image.fromarray(astronaut)
    gray16 = (np.asarray(pil.convert("L"), np.uint16) * 257).astype(np.uint16)
    files: dict[str, tuple[bytes, str | None]] = {
        "empty.jpg": (b"", "empty"),
        "text.png": (b"just text, named like a picture\n", "not an image"),
        "truncated.png": (encode(astronaut, "PNG")[:300], "decoded"),
        "bomb.png": (png_claiming(100_000, 100_000), "pixels"),
        "bomb.jpg": (jpeg_claiming(60_000, 60_000), "pixels"),
        "dot.png": (encode(np.zeros((1, 1, 3), np.uint8), "PNG"), None),
        "deep.png": (encode(Image.fromarray(gray16), "PNG"), None),
        "cmyk.jpg": (encode(pil.convert("CMYK"), "JPEG"), None),
        "palette.png": (encode(pil.convert("P"), "PNG"), None),
        "alpha.png": (encode(pil.convert("RGBA"), "PNG"), None),
        "anim.gif": (encode(pil, "GIF", save_all=True, append_images=[pil.transpose(0)]), None),
        "<b>odd\nname's \"photo\".jpg": (jpeg, None),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    os.mkfifo(folder / "fifo.jpg")  # reading it would block forever
    return {name: words for name, (_, words) in files.items()} | {"fifo.jpg": "not a regular file"}


def test_main_on_hostile_files(tmp_path: Path, astronaut: np.ndarray, capsys: pytest.CaptureFixture) -> None:
    expected = hostile_files(tmp_path, astronaut)
    started = time.monotonic()
    assert cli.main(["--json", *(str(tmp_path / name) for name in expected)]) == 1
    assert time.monotonic() - started < 60  # nothing hung (the FIFO) or ran away (the bombs)
    captured = capsys.readouterr()
    records = {Path(r["file"]).name: r for r in json_lines(captured.out)}
    assert set(records) == set(expected) and "Traceback" not in captured.err
    for name, words in expected.items():
        record = records[name]
        if words is None:
            assert record["error"] is None, (name, record["error"])
            for face in record["faces"]:
                assert_face_contract(face)
        else:
            assert record["faces"] == [] and words in record["error"], (name, record["error"])


def test_human_output_names_each_failure(tmp_path: Path, astronaut: np.ndarray,
                                         capsys: pytest.CaptureFixture) -> None:
    expected = hostile_files(tmp_path, astronaut)
    bad = [name for name, words in expected.items() if words]
    assert cli.main([str(tmp_path / name) for name in bad]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": error: ")[0] for line in lines] == [str(tmp_path / name) for name in bad]


def test_the_pixel_limit_is_the_servers_setting_or_the_flag(tmp_path: Path, crop_file: Path,
                                                            monkeypatch, capsys) -> None:
    """FACEINSIGHT_MAX_PIXELS limits the CLI as it limits the server; --max-pixels overrides it."""
    monkeypatch.setenv("FACEINSIGHT_MAX_PIXELS", "1000")
    assert cli.main(["--json", "--no-detect", str(crop_file)]) == 1
    (record,) = json_lines(capsys.readouterr().out)
    assert "the limit is 1,000 pixels" in record["error"]
    assert cli.main(["--json", "--no-detect", "--max-pixels", "100000000", str(crop_file)]) == 0
    assert json_lines(capsys.readouterr().out)[0]["error"] is None
    monkeypatch.delenv("FACEINSIGHT_MAX_PIXELS")
    assert cli.main(["--json", "--no-detect", "--max-pixels", "1000", str(crop_file)]) == 1


def test_a_bad_pixel_limit_is_one_line(crop_file: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FACEINSIGHT_MAX_PIXELS", "lots")
    assert cli.main(["--json", str(crop_file)]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: FACEINSIGHT_MAX_PIXELS must be a whole number of 1 or more (got 'lots')")
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--max-pixels", "0", str(crop_file)])
    assert stopped.value.code == 2 and "must be 1 or more (got 0)" in capsys.readouterr().err


def test_an_empty_folder_beside_images_is_named(tmp_path: Path, crop_file: Path, capsys) -> None:
    """It was skipped without a word (exit 0), though given alone it is an error."""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["--json", "--no-detect", str(crop_file), str(empty)]) == 1
    captured = capsys.readouterr()
    assert json_lines(captured.out)[0]["error"] is None
    assert captured.err.strip() == f"error: no image files found in {empty}"


def test_an_empty_path_is_not_the_current_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    """predict.py "$DIR" with DIR unset read every image under the current folder."""
    (tmp_path / "a.png").write_bytes(encode(np.zeros((30, 30, 3), np.uint8), "PNG"))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--json", ""]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "an empty path was given" in captured.err
