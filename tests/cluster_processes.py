"""The daemons a test cluster started, recorded by process id in ``<root>/pids.json`` so that
stopping it kills those and nothing else (never ``ray stop`` or ``pkill``, which would take a
user's own cluster with them)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Callable


def pids_file(root: str) -> str:
    return os.path.join(root, "pids.json")


def recorded(root: str) -> dict[str, int]:
    try:
        with open(pids_file(root), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def record(root: str, pids: dict[str, int]) -> None:
    path = pids_file(root)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(pids, f)
    os.replace(path + ".tmp", path)


def forget(root: str) -> None:
    try:
        os.remove(pids_file(root))
    except FileNotFoundError:
        pass


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (exited, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def spawn(root: str, name: str, argv: list[str], env: dict[str, str]) -> int:
    """Start ``argv`` in a session of its own (its pid names the session), logging to <name>.out."""
    with open(os.path.join(root, f"{name}.out"), "ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=env)
    return process.pid


def session_members(session: int) -> list[int]:
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", encoding="utf-8") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session and fields[0] != "Z":  # fields: state, ppid, pgrp, session
                members.append(int(name))
    return members


def kill_sessions(sessions: list[int], grace_s: float = 5.0) -> None:
    """SIGTERM every process of these sessions, then SIGKILL what is left after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for session in sessions:
            for pid in session_members(session):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace_s
        while any(session_members(s) for s in sessions) and time.monotonic() < deadline:
            time.sleep(0.05)


def main(argv: list[str], start: Callable[[str], str], stop: Callable[[str], None], default_dir: str,
         variable: str) -> int:
    """``start|stop [DIR]``: start prints ``export <variable>=<what start returned>``."""
    if len(argv) not in (1, 2) or argv[0] not in ("start", "stop"):
        print(f"usage: python {sys.argv[0]} start|stop [DIR]", file=sys.stderr)
        return 2
    root = os.path.abspath(argv[1] if len(argv) == 2 else default_dir)
    if argv[0] == "start":
        print(f"export {variable}={start(root)}")
    else:
        stop(root)
    return 0
