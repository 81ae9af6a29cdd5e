"""The package as a user installs it: a wheel built from the checkout, installed into a folder
of its own, serves the page, its scripts and a photo analysis with the checkout out of reach.

The server runs with ``python -S`` from an empty working folder: its path holds only the
installed wheel and the dependencies' site-packages (whose ``.pth`` files, an editable install
of this checkout among them, are not read).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import requests
from live_server import wait_ready
from webhelpers import astronaut, encode, free_port

ROOT = Path(__file__).resolve().parents[2]
# What building the wheel reads: the package (its assets link to the top-level folders) and those.
BUILD_INPUTS = ("pyproject.toml", "README.md", "faceinsight", "templates", "static", "models", "deploy")
SERVED = ("faceinsight/assets/templates/index.html", "faceinsight/assets/static/js/main.js",
          "faceinsight/assets/models/manifest.json", "faceinsight/assets/nginx.conf")
SYMLINK = 0o120000  # a zip entry's Unix mode says "link" with these bits


def build_wheel(folder: Path) -> Path:
    """Build the wheel offline from a copy of the checkout (setuptools writes build/ and
    *.egg-info beside its sources: never stale files from the checkout's own build/)."""
    source = folder / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(folder / "dist")], check=True, capture_output=True,
                   timeout=120)
    (wheel,) = (folder / "dist").glob("faceinsight-*.whl")
    return wheel


def server_environment(target: Path, port: int) -> dict[str, str]:
    """The environment of a server that sees the installed wheel and the dependencies only."""
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("FACEINSIGHT_", "GUNICORN_", "PYTHON")) and name not in
           {"WEB_CONCURRENCY", "PORT", "REDIS_URL"}}
    env.update(PYTHONPATH=os.pathsep.join([str(target), *sorted(dependencies)]),
               WEB_CONCURRENCY="1", GUNICORN_THREADS="4", GUNICORN_BIND=f"127.0.0.1:{port}",
               GUNICORN_LOGLEVEL="warning")
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel installed with ``pip install --target``: the folder it went to."""
    folder = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(folder)
    with zipfile.ZipFile(wheel) as archive:
        entries = {info.filename: info for info in archive.infolist()}
    for name in SERVED:
        assert name in entries, f"the wheel lacks {name}"
        assert (entries[name].external_attr >> 16) & 0o170000 != SYMLINK, f"{name} is a link in the wheel"
    assert entries[SERVED[1]].file_size == (ROOT / "static/js/main.js").stat().st_size
    target = folder / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=120)
    return target


def test_an_installed_wheel_serves_the_page_its_scripts_and_a_photo(installed, tmp_path):
    port = free_port()
    env = server_environment(installed, port)
    python = [sys.executable, "-S"]  # no site: the venv's .pth files (an editable install) unread
    found = subprocess.run([*python, "-c", "import faceinsight; print(faceinsight.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()).parent == installed / "faceinsight", "the checkout is importable"
    server = subprocess.Popen(
        [*python, "-m", "gunicorn", "--config", "python:faceinsight.web.gunicorn_config",
         "faceinsight.web:create_app()"], cwd=tmp_path, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server, timeout=60)
        page = requests.get(f"{url}/", timeout=10)
        scripts = re.findall(r'<script[^>]* src="/(static/[^"?]+)', page.text)
        assert page.status_code == 200 and "static/js/main.js" in scripts
        for path in scripts:
            script = requests.get(f"{url}/{path}", timeout=10)
            assert script.status_code == 200 and script.content == (ROOT / path).read_bytes(), path
        answer = requests.post(f"{url}/api/v1/analyze", timeout=60,
                               files={"file": ("astronaut.jpg", encode(astronaut()), "image/jpeg")})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["faces"]) == 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    # What the server wrote (its secret key) went to the working folder, not into the package.
    assert (tmp_path / "instance" / "secret_key").is_file()
    assert not (installed / "instance").exists() and not (installed / "uploads").exists()
