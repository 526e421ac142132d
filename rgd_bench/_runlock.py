"""One process at a time per run directory.

``<run_dir>/lock`` is created atomically (``O_CREAT | O_EXCL``) and names its holder
(host, pid).  A holder refreshes the file's mtime every ``HEARTBEAT_S`` seconds.  A lock
is stale when its process is gone (same host) or its heartbeat stopped for
``STALE_AFTER_S`` seconds (another host, e.g. a Slurm node that died); a stale lock is
taken over with an atomic rename, so two processes that both see it stale cannot both
take it.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import threading
import time

from rgd_bench.errors import UsageError

LOCK_NAME = "lock"
HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0
RUN_IN_USE_EXIT_CODE = 75  # EX_TEMPFAIL: try again later


class RunInUse(UsageError):
    """Another live process holds the run directory."""

    exit_code = RUN_IN_USE_EXIT_CODE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_holder(lock_path: str) -> dict | None:
    """The holder written in a lock file, or None if there is no readable lock."""
    try:
        with open(lock_path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_stale(lock_path: str) -> bool:
    holder = describe_holder(lock_path)
    try:
        age = time.time() - os.path.getmtime(lock_path)
    except OSError:
        return False  # gone already: not ours to take over, just retry
    if holder is None:  # a holder writes its name at once: unreadable and old means it died
        return age > 5.0
    if holder.get("host") == socket.gethostname():
        return not _alive(int(holder.get("pid", -1)))
    return age > STALE_AFTER_S


def is_held(run_dir: str) -> bool:
    """True when a live process holds the run directory's lock."""
    lock_path = os.path.join(run_dir, LOCK_NAME)
    return os.path.exists(lock_path) and not is_stale(lock_path)


class RunLock:
    """Hold ``<run_dir>/lock`` for the life of a run (a context manager)."""

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, LOCK_NAME)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not is_stale(self.path):
                    holder = describe_holder(self.path) or {}
                    raise RunInUse(f"{os.path.dirname(self.path)!r} is in use by process "
                                   f"{holder.get('pid', '?')} on {holder.get('host', '?')}.") from None
                self._take_over_stale()
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}, f)
            self._thread = threading.Thread(target=self._heartbeat, daemon=True)
            self._thread.start()
            return
        raise RunInUse(f"Could not take the lock {self.path!r}; another process keeps taking it.")

    def _take_over_stale(self) -> None:
        # Only one contender can rename the stale file away; the others find it gone.
        grave = f"{self.path}.stale-{socket.gethostname()}-{os.getpid()}"
        try:
            os.rename(self.path, grave)
            os.remove(grave)
        except FileNotFoundError:
            pass

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        self._stop.set()
        holder = describe_holder(self.path)
        if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            os.remove(self.path)

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no-op elsewhere), so that
    killing a sweep also stops the runs it started and frees their locks."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    PR_SET_PDEATHSIG = 1
    parent = os.getppid()
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
