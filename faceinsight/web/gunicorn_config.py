"""gunicorn settings for Face Insight, from the environment, with defaults for a 2-core box
(``--config python:faceinsight.web.gunicorn_config``; ``gunicorn.conf.py`` in a checkout).

WEB_CONCURRENCY   worker processes (default 2: one per core; each loads the models once)
GUNICORN_THREADS  threads per worker (default 16: most wait on clients; analyses run in the app's
                  FACEINSIGHT_ANALYSIS_SLOTS, so a busy worker still answers /health)
PORT              port; when set (a platform such as Heroku) the server listens on 0.0.0.0
GUNICORN_BIND     explicit bind address, e.g. 127.0.0.1:8000 (wins over PORT)
GUNICORN_TIMEOUT  seconds a request may take before its worker is restarted (default 120)
GUNICORN_CERTFILE / GUNICORN_KEYFILE  serve https directly (phones need it for the camera)
"""

import os


def _whole(name: str, default: int, smallest: int = 1) -> int:
    """A whole-number variable; a bad one stops gunicorn with one line, as our settings do."""
    raw = os.environ.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        value = smallest - 1
    if value < smallest:
        raise SystemExit(f"Error: {name} must be a whole number of {smallest} or more (got {raw!r})")
    return value


_port = os.environ.get("PORT")
bind = os.environ.get("GUNICORN_BIND") or (f"0.0.0.0:{_port}" if _port else "127.0.0.1:8000")
workers = _whole("WEB_CONCURRENCY", 2)
threads = _whole("GUNICORN_THREADS", 16)
worker_class = "gthread"
timeout = _whole("GUNICORN_TIMEOUT", 120)
graceful_timeout = 30
keepalive = 5
# No preload: each worker loads the LiteRT models itself after the fork (interpreters and
# thread pools do not survive fork), and the first request in each worker pays for it.
preload_app = False
# Worker recycling is off: it would kill in-process video jobs mid-analysis.
max_requests = _whole("GUNICORN_MAX_REQUESTS", 0, smallest=0)
max_requests_jitter = max_requests // 10
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
certfile = os.environ.get("GUNICORN_CERTFILE") or None
keyfile = os.environ.get("GUNICORN_KEYFILE") or None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server) -> None:
    """Before any worker forks: check every model file, so a missing or corrupt one stops
    gunicorn at once with a message naming it ("Error: model file missing: ...", exit 1).

    Checksums only (no interpreter is made before the fork); each worker then loads the models
    in ``create_app``. ``FACEINSIGHT_CHECK_MODELS=0`` skips both checks (``/ready`` reports it).
    """
    from faceinsight.models import verify_model_files
    from faceinsight.web.settings import load_settings

    if load_settings()["FACEINSIGHT_CHECK_MODELS"]:
        server.log.info("model files verified in %s", verify_model_files())
