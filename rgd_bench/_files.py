"""Reading input files that may be anything: a FIFO, a device, a directory, a huge file.

Each is opened without blocking and checked to be a regular file before it is read, so a
FIFO (or ``/dev/zero``) named as an input is refused at once instead of hanging the command
or eating its memory.
"""
from __future__ import annotations

import os
import stat
from typing import BinaryIO


class UnreadableFile(Exception):
    """Why a file cannot be read as input (the message is a short reason)."""


def open_regular(path: str) -> BinaryIO:
    """``path`` opened for reading in binary; UnreadableFile unless it is a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise UnreadableFile(error.strerror or str(error)) from None
    handle = open(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise UnreadableFile("not a regular file")
    return handle


def read_regular(path: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``; UnreadableFile if it is not one or holds more
    than ``limit`` bytes.  Read with ``os.read`` in as few calls as its size allows (a
    buffered file object costs more than the read itself on small files)."""
    with open_regular(path) as handle:
        fd = handle.fileno()
        size = os.fstat(fd).st_size
        if size > limit:
            raise UnreadableFile(_too_large(limit))
        parts = [os.read(fd, size + 1)]  # one byte more: a file that grew meanwhile reads on
        total = len(parts[0])
        if total <= size:
            return parts[0]  # all of it, as it was when asked
        while parts[-1] and total <= limit:
            parts.append(os.read(fd, limit + 1 - total))
            total += len(parts[-1])
    if total > limit:
        raise UnreadableFile(_too_large(limit))
    return parts[0] if len(parts) <= 2 else b"".join(parts)  # the last part is the empty read at the end


def _too_large(limit: int) -> str:
    return f"larger than {limit // 2**20} MiB" if limit >= 2**20 else f"larger than {limit} bytes"
