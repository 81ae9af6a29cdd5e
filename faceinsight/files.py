"""Small, careful file helpers: private atomic writes, and reads that refuse odd files.

A write that fails half-way (a full disk, a read-only folder) leaves no partial or temporary
file behind; a read never blocks on a FIFO or runs away on a device or a huge file.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path


class FileTooLargeError(OSError):
    """The file is larger than the caller's limit (raised before reading it)."""


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable only by this user, atomically (temporary file, then rename).

    :param path: where the file ends up.
    :param data: its content.
    :raises OSError: the folder is full, read-only or missing; nothing is left behind.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def read_regular_file(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``.

    Opened without blocking and checked with ``fstat`` before reading, so a FIFO, a device
    (``/dev/zero``) or a folder is refused at once instead of hanging or filling memory.

    :param path: the file.
    :param max_bytes: the largest size read.
    :raises FileTooLargeError: the file is larger than ``max_bytes``.
    :raises OSError: missing, unreadable, or not a regular file (``errno`` says which).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        _check_regular(os.fstat(fd), max_bytes)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew while being read
        raise FileTooLargeError(errno.EFBIG, f"the file is larger than {max_bytes / 2**20:.0f} MiB")
    return data


def _check_regular(info: os.stat_result, max_bytes: int) -> None:
    """Refuse a folder, a device, a FIFO or a socket, and a file over ``max_bytes``."""
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EINVAL, "not a regular file (a device, FIFO or socket)")
    if info.st_size > max_bytes:
        raise FileTooLargeError(errno.EFBIG, f"the file is {info.st_size / 2**20:.1f} MiB; "
                                             f"the limit is {max_bytes / 2**20:.0f} MiB")
