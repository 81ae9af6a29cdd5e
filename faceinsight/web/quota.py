"""How much one session may keep on the server ("Keep my captures"): bytes and items per session,
and a free-disk floor under which nothing is kept. A capture or video past them is still
analysed; the answer says why it was not kept (``storage_error``), as for a full disk."""

from __future__ import annotations

import shutil
import threading

from flask import current_app

from faceinsight.web.settings import MB, mib

# Checking a session's use and then writing is one step within a process, so that one session's
# parallel uploads cannot all pass the same check (other processes may overshoot by a request).
KEEPING = threading.Lock()
DELETE_HINT = "delete some under \u201cKept on the server\u201d (or Clear session)"


def keep_refusal(owner: str, adding: int) -> str | None:
    """Why this session may not keep ``adding`` more bytes, or None when it may.

    :param owner: the session id.
    :param adding: the size of what would be kept, in bytes.
    """
    config = current_app.config
    floor = float(config["FACEINSIGHT_KEEP_MIN_FREE_MB"]) * MB
    if floor and _free_bytes() - adding < floor:
        return "the server's disk is nearly full, so nothing more is kept for now"
    used, items = current_app.extensions["faceinsight.captures"].usage(owner)
    most_items = int(config["FACEINSIGHT_KEEP_MAX_ITEMS"])
    if items >= most_items:
        return (f"this session already keeps {items} captures and videos, the most one session "
                f"may keep; {DELETE_HINT}")
    most_bytes = float(config["FACEINSIGHT_KEEP_MAX_MB"]) * MB
    if used + adding > most_bytes:
        return (f"this session keeps {mib(round(used / MB, 1) * MB)} and this would pass "
                f"{mib(most_bytes)}, the most one session may keep; {DELETE_HINT}")
    return None


def _free_bytes() -> int:
    """Free space of the upload folder's disk (unlimited when it cannot be read)."""
    try:
        return shutil.disk_usage(current_app.config["FACEINSIGHT_UPLOAD_DIR"]).free
    except OSError:
        return 1 << 62
