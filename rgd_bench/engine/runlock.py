"""One process at a time per run directory.

A run's process holds a kernel lock on ``<run_dir>/lock`` (``rundir.LOCK_NAME``): a Linux
open-file-description (OFD) lock, or ``flock`` where OFD locks are missing (macOS).  On one
host this is correct by construction:

- The kernel grants the lock to one open file description at a time and frees it when the
  description is closed, which happens however the holder dies (SIGKILL included).  No pid is
  checked, so no dead or reused pid can fool it, and a dead holder's lock is simply free.
- A releasing holder unlinks the file before it closes it, so the path may name a newer file
  than the one a process opened and locked.  A process holds the run only once it holds the
  lock AND the path still names the file it locked; only a holder unlinks, so two holders
  would need the path to name two files at once.
- ``is_held`` asks with ``F_OFD_GETLK``, which reports a conflicting lock without taking one,
  so ``sweep status`` beside the jobs never makes one fail to start.  (``flock`` cannot be
  asked: the fallback probes with a shared lock, which can, rarely, make a concurrent acquire
  fail with ``RunInUse``.)
- A forked child (a DataLoader worker) shares the holder's open file description and would
  keep the lock after the holder died, so it closes its copy at once; the holder keeps the lock,
  which goes only when the description's last descriptor closes.

Across hosts the kernel lock may not reach (a shared file system), so the file also names its
holder (host, pid, since), and the holder refreshes the file's mtime every ``HEARTBEAT_S``
seconds: a file naming another host that beat less than ``STALE_AFTER_S`` seconds ago is
respected even when the kernel lock is free here (a node that died stops beating).
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import signal
import socket
import struct
import threading
import time

from rgd_bench.errors import UsageError
from rgd_bench.rundir import LOCK_NAME  # re-exported: older code imports it from here

HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0
RUN_IN_USE_EXIT_CODE = 75  # EX_TEMPFAIL: try again later
_ATTEMPTS = 10  # each retry means a holder released meanwhile: reached only under a storm
_OFD = hasattr(fcntl, "F_OFD_SETLK")
_FLOCK = struct.Struct("hhqqi4x")  # struct flock on Linux x86_64/aarch64: type, whence, start, len, pid
_WRITE_LOCK = _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)  # the whole file; l_pid 0 for OFD


class RunInUse(UsageError):
    """Another live process holds the run directory."""

    exit_code = RUN_IN_USE_EXIT_CODE


def _try(call, *args) -> bool:
    """Run a non-blocking lock call; False when another holds a conflicting lock."""
    try:
        call(*args)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):  # EWOULDBLOCK is EAGAIN on Linux and macOS
            return False
        raise
    return True


def _try_lock(fd: int) -> bool:
    if _OFD:
        return _try(fcntl.fcntl, fd, fcntl.F_OFD_SETLK, _WRITE_LOCK)
    return _try(fcntl.flock, fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _locked_by_another(fd: int) -> bool:
    if _OFD:
        return _FLOCK.unpack(fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _WRITE_LOCK))[0] != fcntl.F_UNLCK
    return not _try(fcntl.flock, fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # the probe: closing fd drops it


def _holder(fd: int) -> dict:
    try:
        holder = json.loads(os.pread(fd, 1 << 16, 0))
    except ValueError:  # empty (just created, or its writer died) or half written
        return {}
    return holder if isinstance(holder, dict) else {}


def _alive_elsewhere(holder: dict, mtime: float) -> bool:
    """A holder on another host with a recent heartbeat: our kernel lock may not reach it."""
    return holder.get("host") not in (None, socket.gethostname()) and time.time() - mtime < STALE_AFTER_S


def _names(path: str, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(fd))
    except FileNotFoundError:
        return False


def describe_holder(lock_path: str) -> dict | None:
    """The holder written in a lock file, or None if there is no readable lock."""
    try:
        with open(lock_path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_held(run_dir: str) -> bool:
    """True when a live process holds the run directory's lock.  Never takes the lock (Linux)."""
    try:
        fd = os.open(os.path.join(run_dir, LOCK_NAME), os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        return _locked_by_another(fd) or _alive_elsewhere(_holder(fd), os.fstat(fd).st_mtime)
    finally:
        os.close(fd)  # another description: the holder's lock stays


class RunLock:
    """Hold ``<run_dir>/lock`` for the life of a run (a context manager)."""

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, LOCK_NAME)
        self._fd: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        for _ in range(_ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                claimed = self._claim(fd)
            except BaseException:
                os.close(fd)  # frees our kernel lock, if we took it; the file stays as it was
                raise
            if claimed:
                self._fd, self._stop = fd, threading.Event()
                self._thread = threading.Thread(target=self._heartbeat, args=(fd, self._stop),
                                                name="rgd_bench-lock-heartbeat", daemon=True)
                self._thread.start()
                _HELD.add(self)
                return
            os.close(fd)  # its holder released and unlinked it: open the path again
        raise RunInUse(f"Could not take the lock {self.path!r}; other processes keep taking it.")

    def _claim(self, fd: int) -> bool:
        """Lock ``fd`` and write ourselves in; False when the path names another file by now."""
        if not _try_lock(fd):
            raise self._in_use(_holder(fd))
        if not _names(self.path, fd):
            return False
        holder = _holder(fd)
        if _alive_elsewhere(holder, os.fstat(fd).st_mtime):
            raise self._in_use(holder)
        # No holder, one on this host (dead: we hold its kernel lock) or another host's stale one.
        record = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        return True

    def _in_use(self, holder: dict) -> RunInUse:
        return RunInUse(f"{os.path.dirname(self.path)!r} is in use by process "
                        f"{holder.get('pid', '?')} on {holder.get('host', '?')}.")

    @staticmethod
    def _heartbeat(fd: int, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                os.utime(fd)
            except OSError:
                return

    def release(self) -> None:
        if self._fd is None:
            return
        _HELD.discard(self)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()  # so it never touches the descriptor's number after the close
        if _names(self.path, self._fd):
            os.unlink(self.path)  # before the close: see the module docstring
        os.close(self._fd)  # frees the kernel lock
        self._fd = self._thread = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_HELD: set[RunLock] = set()  # the locks this process holds (a dropped RunLock still holds)


def _forget_in_child() -> None:
    """After a fork: the lock is the parent's.  Close the child's descriptor; never unlink."""
    for lock in list(_HELD):
        os.close(lock._fd)
        lock._fd = lock._thread = None  # no heartbeat thread survives a fork
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


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
