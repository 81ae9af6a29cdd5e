"""Every error leaves the app as JSON ``{"error": message}`` with the right status, never a trace."""

from __future__ import annotations

import errno
import functools
import logging
import time

from flask import Flask, Response, jsonify, request
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from faceinsight.litert import ModelError
from faceinsight.web.settings import mib

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the client should see: a status code and a plain-language message.

    :param status: the HTTP status (4xx, or 503 when the models are unavailable).
    :param message: what went wrong and, where useful, what to do.
    :param headers: extra response headers (e.g. ``Retry-After``).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON error response.

    :param status: HTTP status code.
    :param message: the ``error`` text.
    :param headers: extra headers.
    """
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers or {})
    return response


STATED_LIMIT_MB = "faceinsight.stated_limit_mb"  # set per request by the app's size check


def _http_message(error: HTTPException) -> str:
    """A short message for werkzeug's errors (their default descriptions are HTML-ish prose)."""
    if isinstance(error, RequestEntityTooLarge) or error.code == 413:
        limit = request.max_content_length
        if _within_size_limit():  # not the body's size: werkzeug's limits on a form's fields
            return (f"the form is too large though its size is within the limit: a text field "
                    f"holds more than {request.max_form_memory_size // 1000:,} kB, or there are more "
                    f"than {request.max_form_parts:,} fields; send the file as a file part (with "
                    f"curl: -F file=@FILE) and only the fields the API names")
        stated = request.environ.get(STATED_LIMIT_MB)
        if stated:  # the kind's limit, as documented (not the body's, which allows for encoding)
            return f"the upload is too large; the limit is {stated:g} MiB"
        if limit:
            return f"the upload is too large; the limit is {mib(limit)}"
        return "the upload is too large"
    messages = {404: "not found", 405: "method not allowed"}
    return messages.get(error.code or 0, error.description or error.name)


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
DISK_FULL_MESSAGE = ("the server has no room for this upload right now (no space left on its disk); "
                     "try again later")

DRAIN_CHUNK = 64 * 1024
DRAIN_SECONDS = 2.0  # a thread waits this long at most for a client that stopped sending


def drain_unread_body(response: Response) -> Response:
    """After-request hook: a request refused before its body was read (a 403 from the origin
    check, a 404, a 405) has the rest of its body read and dropped once its answer is sent, so
    the connection serves the client's next request. gunicorn drains only 64 KiB itself and
    closes the connection beyond that, after an answer that said keep-alive: the next request a
    client sent on it (``requests`` reuses its connections) failed. A body over the size limit
    (413) is not read: that connection closes. A 413 for a form's text field or part count, its
    size within the limit, is drained like the others.

    :param response: the response on its way out.
    """
    if response.status_code < 400 or (response.status_code == 413 and not _within_size_limit()):
        return response
    try:
        stream = request.stream
    except Exception:  # noqa: BLE001 - over the size limit: nothing to keep open
        return response
    if not getattr(stream, "is_exhausted", True):
        response.call_on_close(functools.partial(_drain, stream, request.environ.get("gunicorn.socket")))
    return response


def _within_size_limit() -> bool:
    """Whether the request declared a body no larger than its limit."""
    limit, size = request.max_content_length, request.content_length
    return bool(limit) and size is not None and size <= limit


def _drain(stream, sock) -> None:
    """Read ``stream`` to its end for at most :data:`DRAIN_SECONDS` (with gunicorn's socket, a
    client that stops sending is given up on then, and its connection closes)."""
    previous = sock.gettimeout() if sock is not None else None
    deadline = time.monotonic() + DRAIN_SECONDS
    try:
        while (left := deadline - time.monotonic()) > 0:
            if sock is not None:
                sock.settimeout(left)
            if not stream.read(DRAIN_CHUNK):
                break
    except Exception:  # noqa: BLE001 - too slow, gone, or over the limit: the connection closes
        log.debug("request body not drained", exc_info=True)
    finally:
        if sock is not None:
            sock.settimeout(previous)


def register_error_handlers(app: Flask) -> None:
    """JSON handlers for our errors, werkzeug's HTTP errors, model errors and anything else,
    and :func:`drain_unread_body`.

    :param app: the app to install them on.
    """
    app.after_request(drain_unread_body)

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.message, error.headers)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        response = error_response(error.code or 500, _http_message(error))
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(ModelError)
    def _model_error(error: ModelError) -> Response:
        # Missing or corrupt model files: the service is not ready; say which file.
        return error_response(503, f"the models are not available: {error}", {"Retry-After": "30"})

    @app.errorhandler(RedisError)
    def _queue_down(error: RedisError) -> Response:
        log.error("Redis error: %s", error)
        return error_response(503, "the video job queue (Redis) is not reachable; try again later",
                              {"Retry-After": "30"})

    @app.errorhandler(OSError)
    def _disk_full(error: OSError) -> Response:
        # Werkzeug spools a form part over 500 KB to TMPDIR while it parses the request: a
        # full disk there (or anywhere a request writes without its own handling) is the
        # server's state, not a bug.
        if error.errno in DISK_FULL:
            log.error("no room to handle a request: %s", error)
            return error_response(503, DISK_FULL_MESSAGE, {"Retry-After": "60"})
        return _unexpected(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal error; the request was not processed")
