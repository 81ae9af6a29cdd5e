"""The production shape on one machine: nginx in front, gunicorn behind it, and an RQ worker
for video jobs when ``REDIS_URL`` is set (``make serve``; docs/OPERATIONS.md).

    python -m faceinsight.web.production --port 8000

nginx (Debian's ``nginx`` package) buffers every request and answer (``deploy/nginx.conf``), so
slow clients cost it a connection, not a gunicorn thread. gunicorn listens on loopback only.
The three run as children of this process: a signal stops them all, and if one of them ends,
the others are stopped and this process exits with its status.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from faceinsight.paths import NGINX_CONF
from faceinsight.web.settings import load_settings

TEMP_FOLDERS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")
PER_CLIENT_CONNECTIONS = 64
WORKER_CLASS = "faceinsight.jobs.worker.JobWorker"  # stops promptly (see that module)
FORM_SLACK_MB = 1  # room for a video's form around the file
GUNICORN_CONFIG = "faceinsight.web.gunicorn_config"  # a module: found from a checkout or a wheel


def free_loopback_port() -> int:
    """A TCP port nobody listens on now, for gunicorn behind nginx."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_nginx_config(folder: Path, listen: str, upstream: str, max_upload_mb: float) -> tuple[Path, Path]:
    """nginx's configuration and temporary folders; returns the configuration file and the
    temporary folder (in ``folder`` unless run as root).

    :param folder: nginx's prefix: its pid file, configuration and (not as root) temporary files.
    :param listen: where nginx listens (``host:port`` or a port).
    :param upstream: gunicorn's ``host:port``.
    :param max_upload_mb: the app's largest upload (a video), in MiB.
    """
    user, temp = "", folder / "tmp"
    if os.geteuid() == 0:
        # nginx's workers drop to nobody, who may not get through the instance folder's parents
        # (a home folder is private): their temporary files go in a folder of their own in the
        # system's temporary folder (uploads over 1 MiB failed with 500 otherwise).
        nobody = pwd.getpwnam("nobody")
        user = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
        temp = Path(tempfile.mkdtemp(prefix="faceinsight-nginx-"))
        for path in [temp, *(temp / name for name in TEMP_FOLDERS)]:
            path.mkdir(exist_ok=True)
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
    for name in TEMP_FOLDERS:
        (temp / name).mkdir(parents=True, exist_ok=True)
    text = string.Template(NGINX_CONF.read_text()).safe_substitute(
        user=user, temp=temp, listen=listen, upstream=upstream, per_client=PER_CLIENT_CONNECTIONS,
        max_body_mb=int(max_upload_mb) + FORM_SLACK_MB, max_upload_mb=f"{max_upload_mb:g}")
    config = folder / "nginx.conf"
    config.write_text(text)
    return config, temp


def commands(folder: Path, port: int, host: str, redis_url: str | None) -> tuple[dict[str, list[str]], Path]:
    """The command of each process (nginx, gunicorn and, with Redis, an RQ worker), and nginx's
    temporary folder."""
    settings = load_settings()
    upstream = f"127.0.0.1:{free_loopback_port()}"
    max_upload = max(settings["FACEINSIGHT_MAX_VIDEO_MB"], settings["FACEINSIGHT_MAX_PHOTO_MB"] * 4 / 3)
    config, temp = write_nginx_config(folder, f"{host}:{port}", upstream, max_upload)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    bin_dir = Path(sys.executable).parent
    found = {
        "nginx": [nginx, "-p", str(folder), "-c", str(config), "-g", "daemon off;"],
        "gunicorn": [str(bin_dir / "gunicorn"), "--config", f"python:{GUNICORN_CONFIG}",
                     "--bind", upstream, "faceinsight.web:create_app()"],
    }
    if redis_url:
        found["rq worker"] = [str(bin_dir / "rq"), "worker", "--url", redis_url,
                              "--worker-class", WORKER_CLASS, settings["FACEINSIGHT_RQ_QUEUE"]]
    return found, temp


def supervise(children: dict[str, subprocess.Popen]) -> int:
    """Wait until a signal comes or a child ends; then stop the rest. Returns the exit status."""
    stopping = {"signal": 0}

    def on_signal(number: int, _frame) -> None:
        stopping["signal"] = number

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, on_signal)
    status = 0
    while not stopping["signal"]:
        ended = [(name, child.returncode) for name, child in children.items() if child.poll() is not None]
        if ended:
            name, status = ended[0]
            print(f"{name} exited with status {status}; stopping the others", file=sys.stderr)
            status = status or 1
            break
        time.sleep(0.2)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)  # gunicorn and nginx stop gracefully on it
    deadline = time.monotonic() + 30
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000),
                        help="the port nginx listens on (default: PORT, else 8000)")
    parser.add_argument("--host", default="127.0.0.1" if not os.environ.get("PORT") else "0.0.0.0",
                        help="the address nginx listens on (default 127.0.0.1; 0.0.0.0 when PORT is set)")
    args = parser.parse_args(argv)
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        print("Error: nginx is not installed (Debian: apt-get install nginx)", file=sys.stderr)
        return 2
    folder = load_settings()["FACEINSIGHT_INSTANCE_DIR"] / "nginx"
    folder.mkdir(parents=True, exist_ok=True)
    planned, temp = commands(folder, args.port, args.host, os.environ.get("REDIS_URL") or None)
    environ = {**os.environ, "FACEINSIGHT_PROXY_HOPS": "1"}  # client addresses from nginx's header
    children = {name: subprocess.Popen(command, env=environ) for name, command in planned.items()}
    print(f"Face Insight at http://{args.host}:{args.port} (nginx -> gunicorn"
          f"{' + RQ worker' if 'rq worker' in children else ''})", file=sys.stderr)
    try:
        return supervise(children)
    finally:
        shutil.rmtree(temp, ignore_errors=True)  # nothing of nginx's buffering is left behind


if __name__ == "__main__":
    sys.exit(main())
