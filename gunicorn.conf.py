"""gunicorn's settings for ``gunicorn --config gunicorn.conf.py`` from the checkout (Procfile,
``make run``); they live in the package, where an installed wheel finds them too:
``gunicorn --config python:faceinsight.web.gunicorn_config``."""

from faceinsight.web.gunicorn_config import *  # noqa: F403 - gunicorn reads the names it knows
