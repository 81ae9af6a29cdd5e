"""The opt-in store of a session's captures ("Keep my captures"), and the note of its kept
videos that counts against the same quota.

Stored files get random ids; a capture's display name is kept (cleaned) in its record only.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import time
from pathlib import Path

from faceinsight.files import write_private

log = logging.getLogger(__name__)
CAPTURE_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CAPTURES = "captures"
CLEARED_SUFFIX = ".cleared"  # beside a session's folder: Clear session ran for it
KEPT_VIDEO_SUFFIX = ".video"  # in a session's folder: names one of its kept videos (the quota)


class SessionClearedError(OSError):
    """The session was cleared: nothing more is kept under its id."""


class CaptureStore:
    """Kept captures, one folder per session under ``<uploads>/captures/<session id>/``.

    :param root: the upload folder.
    """

    def __init__(self, root: Path):
        self.root = Path(root) / CAPTURES

    def _folder(self, owner: str) -> Path:
        if not CAPTURE_ID.match(owner):
            raise ValueError("bad session id")
        return self.root / owner

    def save(self, owner: str, data: bytes, name: str, result: dict) -> str:
        """Keep one analysed image and its result; returns the capture's random id.

        :param owner: the session id.
        :param data: the image bytes as uploaded.
        :param name: the cleaned display name.
        :param result: the analysis returned to the client.
        :raises OSError: the folder is full or read-only (the caller reports it, analysis stands).
        """
        folder = self._folder(owner)
        if self.was_cleared(owner):
            raise SessionClearedError(f"session {owner} was cleared")
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        capture_id = secrets.token_urlsafe(16)
        meta = {"id": capture_id, "name": name, "created": time.time(), "result": result}
        files = (folder / f"{capture_id}.img", folder / f"{capture_id}.json")
        try:
            write_private(files[0], data)
            write_private(files[1], json.dumps(meta).encode())
            if self.was_cleared(owner):  # cleared while this was being written
                raise SessionClearedError(f"session {owner} was cleared")
        except BaseException:
            for path in files:  # never half a capture: an image without its record
                path.unlink(missing_ok=True)
            raise
        return capture_id

    def note_kept_video(self, owner: str, job_id: str, video: Path) -> None:
        """Count a kept video against its session's quota: a small file beside its captures
        names the video (it goes when the video does, see :meth:`usage`).

        :param owner: the session id.
        :param job_id: the video's job.
        :param video: the kept video file.
        :raises OSError: the folder is not writable.
        """
        folder = self._folder(owner)
        if self.was_cleared(owner):
            return  # its job is refused or deleted with the session
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(folder / f"{job_id}{KEPT_VIDEO_SUFFIX}", str(video).encode())

    def usage(self, owner: str) -> tuple[int, int]:
        """What a session keeps: (bytes, items), its captures and kept videos together. A note
        of a video that is gone (deleted, expired) is dropped.

        :param owner: the session id.
        """
        folder = self._folder(owner)
        size = items = 0
        for path in folder.iterdir() if folder.is_dir() else []:
            try:
                if path.suffix == KEPT_VIDEO_SUFFIX:
                    size += Path(path.read_text()).stat().st_size
                    items += 1
                else:
                    size += path.stat().st_size
                    items += path.suffix == ".img"
            except FileNotFoundError:
                if path.suffix == KEPT_VIDEO_SUFFIX:
                    path.unlink(missing_ok=True)
            except OSError:
                continue
        return size, items

    def _cleared_mark(self, owner: str) -> Path:
        return self.root / f"{self._folder(owner).name}{CLEARED_SUFFIX}"

    def was_cleared(self, owner: str) -> bool:
        """Whether Clear session ran for this session id: a request still in flight then carries
        its old cookie ("Keep my captures" on, the old id) and must keep nothing under that id,
        which nobody can list or delete any more.

        :param owner: the session id.
        """
        return self._cleared_mark(owner).exists()

    def path(self, owner: str, capture_id: str) -> Path | None:
        """The stored image of one of this session's captures, or None.

        :param owner: the session id asking.
        :param capture_id: the id :meth:`save` returned.
        """
        if not CAPTURE_ID.match(capture_id):
            return None
        path = self._folder(owner) / f"{capture_id}.img"
        return path if path.is_file() else None

    def list(self, owner: str) -> list[dict]:
        """This session's kept captures (id, name, created), newest first.

        :param owner: the session id.
        """
        folder = self._folder(owner)
        items = []
        for meta_path in folder.glob("*.json") if folder.is_dir() else []:
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                continue
            items.append({k: meta.get(k) for k in ("id", "name", "created")})
        return sorted(items, key=lambda m: m.get("created") or 0, reverse=True)

    def clear(self, owner: str) -> int:
        """Delete every capture of a session; returns how many images were removed.

        :param owner: the session id.
        """
        folder = self._folder(owner)
        try:  # first: a capture being saved now sees it (swept with the captures)
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._cleared_mark(owner).touch()
        except OSError as error:  # a read-only folder keeps nothing new anyway
            log.warning("could not mark session %s as cleared: %s", owner, error)
        if not folder.is_dir():
            return 0
        count = len(list(folder.glob("*.img")))
        shutil.rmtree(folder, ignore_errors=True)
        return count

    def sweep(self, max_age_s: float, now: float | None = None) -> int:
        """Remove captures older than ``max_age_s`` (by file time), and emptied folders.

        :param max_age_s: the retention period in seconds.
        :param now: the current time (tests).
        """
        now = time.time() if now is None else now
        removed = 0
        if not self.root.is_dir():
            return 0
        for folder in self.root.iterdir():
            if not folder.is_dir():
                if folder.name.endswith(CLEARED_SUFFIX) and now - folder.stat().st_mtime > max_age_s:
                    folder.unlink(missing_ok=True)  # its in-flight requests are long over
                continue
            for path in folder.iterdir():
                try:
                    if now - path.stat().st_mtime > max_age_s:
                        path.unlink()
                        removed += path.suffix == ".img"
                except OSError:
                    continue
            try:
                folder.rmdir()  # only succeeds when empty
            except OSError:
                pass
        return removed
