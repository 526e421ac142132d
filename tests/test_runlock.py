"""One process at a time per run directory."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from rgd_bench._runlock import LOCK_NAME, RunInUse, RunLock, STALE_AFTER_S, is_held


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_lock(run_dir, host, pid, age_s=0.0):
    path = os.path.join(run_dir, LOCK_NAME)
    with open(path, "w") as f:
        json.dump({"host": host, "pid": pid, "since": time.time()}, f)
    os.utime(path, (time.time() - age_s, time.time() - age_s))


def test_lock_is_exclusive_and_released(tmp_path):
    with RunLock(str(tmp_path)):
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        assert is_held(str(tmp_path))
        with pytest.raises(RunInUse, match=f"in use by process {os.getpid()}"):
            RunLock(str(tmp_path)).acquire()
    assert not (tmp_path / LOCK_NAME).exists() and not is_held(str(tmp_path))


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    write_lock(tmp_path, socket.gethostname(), dead_pid())
    assert not is_held(str(tmp_path))
    with RunLock(str(tmp_path)):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert [p.name for p in tmp_path.iterdir()] == []  # no stale leftovers


def test_lock_of_another_host_goes_stale_only_without_heartbeat(tmp_path):
    write_lock(tmp_path, "another-node", 1, age_s=60)
    with pytest.raises(RunInUse, match="another-node"):
        RunLock(str(tmp_path)).acquire()
    write_lock(tmp_path, "another-node", 1, age_s=STALE_AFTER_S + 60)
    with RunLock(str(tmp_path)):
        pass


def test_training_into_a_held_directory_is_refused_with_exit_75(tmp_path, train_in_process):
    out = tmp_path / "run"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_lock(out, socket.gethostname(), sleeper.pid)
        code, _, err = train_in_process("--dataset", "SpuriousTabular", "--steps", "3", "--output_dir", str(out))
        assert code == 75 and f"in use by process {sleeper.pid}" in err
        assert not (out / "results.jsonl").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    code, _, _ = train_in_process("--dataset", "SpuriousTabular", "--steps", "3", "--output_dir", str(out))
    assert code == 0 and (out / "done").exists() and not (out / LOCK_NAME).exists()
