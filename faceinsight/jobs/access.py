"""Who may see a video job: its random id, the secret token given to its API client, and the
check that a caller is the job's session or holds its token."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def new_job_id() -> str:
    """A random, unguessable job id (32 hex digits)."""
    return secrets.token_hex(16)


def valid_job_id(job_id: str) -> bool:
    """Whether ``job_id`` has the shape :func:`new_job_id` makes (guards file paths)."""
    return bool(JOB_ID.match(job_id or ""))


def new_job_token() -> tuple[str, str]:
    """A secret token for a job's API client and the hash that is stored (never the token)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """The stored form of a job token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def may_access(owner: str, stored_hash: str, session: str | None, token: str | None) -> bool:
    """Whether a caller may see or delete a job: its session created it, or it holds the token.

    :param owner: the session that created the job ("" for none).
    :param stored_hash: the job's :func:`token_hash` ("" for none).
    :param session: the caller's session id (None without a session cookie).
    :param token: the ``X-Job-Token`` the caller sent (None when absent).
    """
    if session and owner and hmac.compare_digest(owner.encode(), session.encode()):
        return True
    return bool(token and stored_hash and hmac.compare_digest(stored_hash, token_hash(token)))
