"""gunicorn settings for Face Insight, from the environment, with defaults for a 2-core box.

WEB_CONCURRENCY   worker processes (default 2: one per core; each loads the models once)
GUNICORN_THREADS  threads per worker (default 4: requests wait on I/O and the model locks)
PORT              port; when set (a platform such as Heroku) the server listens on 0.0.0.0
GUNICORN_BIND     explicit bind address, e.g. 127.0.0.1:8000 (wins over PORT)
GUNICORN_TIMEOUT  seconds a request may take before its worker is restarted (default 120)
GUNICORN_CERTFILE / GUNICORN_KEYFILE  serve https directly (phones need it for the camera)
"""

import os

_port = os.environ.get("PORT")
bind = os.environ.get("GUNICORN_BIND") or (f"0.0.0.0:{_port}" if _port else "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
# No preload: each worker loads the LiteRT models itself after the fork (interpreters and
# thread pools do not survive fork), and the first request in each worker pays for it.
preload_app = False
# Worker recycling is off: it would kill in-process video jobs mid-analysis.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
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
