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

from faceinsight.web.production import GUNICORN_CONFIG

ROOT = Path(__file__).resolve().parents[2]
# What building the wheel reads: the package (its assets link to the top-level folders) and those.
BUILD_INPUTS = ("pyproject.toml", "README.md", "faceinsight", "templates", "static", "models", "deploy")
SERVED = ("faceinsight/assets/templates/index.html", "faceinsight/assets/static/js/main.js",
          "faceinsight/assets/models/manifest.json", "faceinsight/assets/nginx.conf")
# Where the installed package finds what make serve's launcher reads (faceinsight.web.production).
FOUND = "import faceinsight.paths as p; print(p.NGINX_CONF); print(p.NGINX_CONF.read_text())"
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
    nginx = subprocess.run([*python, "-c", FOUND], cwd=tmp_path, env=env, capture_output=True, text=True,
                           check=True).stdout
    assert nginx.startswith(f"{installed}/faceinsight/assets/") and "server ${upstream};" in nginx
    server = subprocess.Popen(
        [*python, "-m", "gunicorn", "--config", f"python:{GUNICORN_CONFIG}",
         "faceinsight.web:create_app()"], cwd=tmp_path, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server, timeout=60)
        page = requests.get(f"{url}/", timeout=10)
        scripts = re.findall(r'<script[^>]* src="/(static/[^"?]+)', page.text)
        assert page.status_code == 200 and scripts and all((ROOT / name).is_file() for name in scripts)
        for path in sorted((ROOT / "static").rglob("*.*")):  # the page's scripts, what they import, CSS
            name = path.relative_to(ROOT).as_posix()
            served = requests.get(f"{url}/{name}", timeout=10)
            assert served.status_code == 200 and served.content == path.read_bytes(), name
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
