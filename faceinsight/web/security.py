"""Secret key, session identity, CSRF tokens and the security headers."""

from __future__ import annotations

import hmac
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request, session

from faceinsight.web.errors import ApiError

SECRET_FILE = "secret_key"
CSRF_HEADER = "X-CSRF-Token"
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_PREFIXES = ("/static/",)  # the only responses a shared cache may keep

# No inline script or style anywhere: the page's code lives in static/. Images and frames come
# from this origin, canvases (data:/blob:) and the camera stream.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
))
PERMISSIONS_POLICY = ("camera=(self), microphone=(), geolocation=(), payment=(), usb=(), "
                      "display-capture=()")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def install_secret_key(instance_dir: Path) -> str:
    """The per-install secret key, generated on first start and kept in the instance folder.

    Several gunicorn workers may start at once: the key is written to a private temporary
    file and hard-linked into place, so exactly one key wins and every worker reads it.

    :param instance_dir: the folder to keep ``secret_key`` in (made if missing, mode 0700).
    """
    instance_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = instance_dir / SECRET_FILE
    if not path.exists():
        temp = instance_dir / f".{SECRET_FILE}.{secrets.token_hex(8)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another worker won the race; use its key
        finally:
            temp.unlink(missing_ok=True)
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"the secret key in {path} is too short; delete the file to make a new one")
    return key


def session_id(create: bool = True) -> str | None:
    """This browser session's random id (the owner of its captures and video jobs).

    :param create: make one if the session has none yet.
    """
    sid = session.get("sid")
    if isinstance(sid, str) and SESSION_ID_PATTERN.match(sid):
        return sid
    if not create:
        return None
    sid = secrets.token_urlsafe(16)
    session["sid"] = sid
    return sid


def csrf_token() -> str:
    """The session's CSRF token (made on first use); the page sends it back in a header."""
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf() -> None:
    """Refuse a state-changing form post whose token does not match the session's.

    :raises ApiError: 403 when the header (or ``csrf_token`` form field) is missing or wrong.
    """
    expected = session.get("csrf")
    sent = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not sent or not hmac.compare_digest(expected, sent):
        raise ApiError(403, "missing or invalid CSRF token; reload the page and try again")


def add_security_headers(response: Response) -> Response:
    """After-request hook: the security headers on every response, and ``no-store`` on every
    response but the static files (replacing what ``send_file`` set, e.g. ``no-cache``).

    :param response: the response on its way out.
    """
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith(PUBLIC_PREFIXES):
        response.headers["Cache-Control"] = "no-store"
    return response


def _same_host(origin: str) -> bool:
    """Whether an ``Origin`` header names this server's host (and port).

    The scheme is not compared: behind a proxy that ends TLS the app sees http while the
    browser says https.

    :param origin: the header's value.
    """
    host = urlsplit(origin).netloc if origin != "null" else ""
    return bool(host) and hmac.compare_digest(host.lower(), request.host.lower())


def check_origin() -> None:
    """Before-request hook: a state-changing call that carries the session cookie must come
    from this site (its ``Origin``, or failing that ``Sec-Fetch-Site``); calls without the
    cookie (API clients) are not affected.

    :raises ApiError: 403 for a cross-origin call made with the user's cookie.
    """
    if request.method not in STATE_CHANGING:
        return
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return
    origin = request.headers.get("Origin")
    cross = not _same_host(origin) if origin else request.headers.get("Sec-Fetch-Site") == "cross-site"
    if cross:
        raise ApiError(403, "cross-origin request refused: this call must come from the Face Insight page")


def configure_security(app: Flask) -> None:
    """Secret key, cookie flags and headers for an app.

    :param app: the app; its config holds the loaded settings.
    """
    key = app.config.get("SECRET_KEY") or app.config["FACEINSIGHT_SECRET_KEY"]
    app.config["SECRET_KEY"] = key or install_secret_key(app.config["FACEINSIGHT_INSTANCE_DIR"])
    app.config.update(
        SESSION_COOKIE_NAME="faceinsight_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(app.config["FACEINSIGHT_SECURE_COOKIES"]),
    )
    app.before_request(check_origin)
    app.after_request(add_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
