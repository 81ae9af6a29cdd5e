"""The README's commands and CLI examples run as written (with its placeholder files made here),
its links lead to files, and docs/OPERATIONS.md's settings table is the generated one."""

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

from faceinsight.web.settings import settings_table

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 150


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


def test_the_readme_is_short_and_its_two_commands_are_make_targets() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test"):
        assert f"\nmake {target} " in text, f"the README does not show make {target}"
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"the Makefile has no {target} target"


DOC_PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))]


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a Markdown page's headings (those outside code blocks)."""
    anchors, fenced = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"#{1,6} (.+)", line)):
            anchors.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def test_the_docs_pages_are_all_checked() -> None:
    assert {"docs/MODELS.md", "docs/models/emotion.md", "docs/OPERATIONS.md"} <= set(DOC_PAGES)


@pytest.mark.parametrize("page", DOC_PAGES)
def test_relative_links_lead_to_files_and_headings(page: str) -> None:
    path = ROOT / page
    for target, anchor in re.findall(r"\]\(([^)#:]*)(?:#([^)]*))?\)", path.read_text()):
        linked = path.parent / target if target else path
        assert linked.exists(), f"{page} links to {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in heading_anchors(linked), f"{page} links to {target}#{anchor}: no such heading"


def operations_settings_table() -> str:
    """docs/OPERATIONS.md's configuration table: from its header row to the last row after it."""
    lines = (ROOT / "docs" / "OPERATIONS.md").read_text().splitlines()
    header = settings_table().splitlines()[0]
    assert header in lines, "docs/OPERATIONS.md has no configuration table"
    start = end = lines.index(header)
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[start:end])


def test_the_operations_settings_table_is_the_generated_one() -> None:
    """The table is exactly ``settings_table()`` (paste its output when a setting changes)."""
    assert operations_settings_table() == settings_table()


def test_the_readme_links_the_settings_instead_of_copying_them() -> None:
    text = (ROOT / "README.md").read_text()
    assert settings_table().splitlines()[0] not in text
    assert "docs/OPERATIONS.md#configuration" in text
