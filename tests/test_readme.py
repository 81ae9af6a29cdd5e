"""The README's CLI examples run as written (with its placeholder files made here)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from face_helpers import encode

ROOT = Path(__file__).resolve().parents[1]


def readme_commands(program: str) -> list[list[str]]:
    """The README's shell lines that run ``program``, split into words, comments dropped."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if len(words) > 1 and words[0].endswith("python") and words[1] == program:
                commands.append(words[1:])
    return commands


@pytest.fixture(scope="module")
def placeholders(tmp_path_factory, astronaut: np.ndarray, face_crop: np.ndarray) -> Path:
    """The files the README's examples name: photo.jpg, folder/, crops/ and clip.mp4."""
    root = tmp_path_factory.mktemp("readme")
    (root / "photo.jpg").write_bytes(encode(astronaut, "JPEG"))
    (root / "folder").mkdir()
    (root / "folder" / "a.png").write_bytes(encode(astronaut, "PNG"))
    (root / "crops").mkdir()
    (root / "crops" / "face.jpg").write_bytes(encode(face_crop, "JPEG"))
    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (512, 512))
    for _ in range(10):
        writer.write(cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    writer.release()
    return root


def run(words: list[str], folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / words[0]), *words[1:]], cwd=folder,
                          capture_output=True, text=True, timeout=300)


def test_the_readme_shows_predict_examples() -> None:
    assert len(readme_commands("predict.py")) >= 3


@pytest.mark.parametrize("index", range(3))
def test_each_predict_example_runs_as_written(index: int, placeholders: Path) -> None:
    words = readme_commands("predict.py")[index]
    result = run(words, placeholders)
    assert result.returncode == 0, result.stderr
    if "--json" in words:
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert records and all(r["error"] is None and r["faces"] for r in records)
    else:
        assert "female" in result.stdout


def test_the_capture_example_runs_on_a_video(placeholders: Path, tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text()
    assert "`capture.py --device 0`" in text and "`--source clip.mp4`" in text
    result = run(["capture.py", "--source", "clip.mp4", "--out", str(tmp_path), "--json"], placeholders)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["faces"]
