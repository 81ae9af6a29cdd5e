"""Where the app's files are: what it reads (page templates, static files, models, the nginx
configuration) and where it writes by default (the instance folder, uploads).

What serving reads travels with the package, in ``faceinsight/assets/``. In a checkout those
entries are links to the top-level ``templates/``, ``static/``, ``models/`` and
``deploy/nginx.conf``, and building a wheel copies the files they point at; so the same paths
hold from a checkout and from an installed wheel.

Written files go under the checkout when running from one (``instance/``, ``uploads/``), and
under the working directory otherwise: never into an installed package.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
IMPORT_ROOT = PACKAGE.parent  # the folder ``faceinsight`` is imported from (a child's PYTHONPATH)
ASSETS = PACKAGE / "assets"
TEMPLATES = (ASSETS / "templates").resolve()
STATIC = (ASSETS / "static").resolve()
MODELS = (ASSETS / "models").resolve()
NGINX_CONF = (ASSETS / "nginx.conf").resolve()
# A checkout has its pyproject.toml beside the package; an installed package has none.
CHECKOUT = IMPORT_ROOT if (IMPORT_ROOT / "pyproject.toml").is_file() else None
WRITABLE_ROOT = CHECKOUT or Path()  # relative: read against the working directory at start-up
