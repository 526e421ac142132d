"""One process at a time per run directory."""
from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

import pytest

from conftest import wait_for
import rgd_bench.engine.runlock as runlock
from rgd_bench import rundir
from rgd_bench.engine.runlock import LOCK_NAME, RUN_IN_USE_EXIT_CODE, STALE_AFTER_S, RunInUse, RunLock, is_held

HOST = socket.gethostname()
HOLD = """
import sys, time
from rgd_bench.engine.runlock import RunLock
RunLock(sys.argv[1]).acquire()
print("holding", flush=True)
time.sleep(600)
"""
HOLD_AND_FORK = """
import os, sys, time
from rgd_bench.engine.runlock import RunLock
RunLock(sys.argv[1]).acquire()
quick = os.fork()
if quick == 0:
    os._exit(0)  # a child that ends at once, closing its copy of the descriptor
os.waitpid(quick, 0)
ready, said_ready = os.pipe()
child = os.fork()
if child == 0:  # a child that outlives the holder (a DataLoader worker)
    os.write(said_ready, b"x")  # the fork handlers have run by now: its copy of the lock is closed
    time.sleep(600)
    os._exit(0)
os.read(ready, 1)  # under load the child may not have run at all yet
print("holding", child, flush=True)
time.sleep(600)
"""


def dead_pid() -> int:
    """The pid of a child that was started and reaped: no process of ours has it now."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_lock(run_dir, host, pid, age_s=0.0):
    """Leave a lock file as a holder that is gone (or on another host) would leave it."""
    path = os.path.join(run_dir, LOCK_NAME)
    with open(path, "w") as f:
        json.dump({"host": host, "pid": pid, "since": time.time()}, f)
    os.utime(path, (time.time() - age_s, time.time() - age_s))


@contextlib.contextmanager
def holder_process(run_dir, script=HOLD):
    """Another process on this host that holds the run directory until it is killed; yields
    the process and the words of its "holding" line."""
    process = subprocess.Popen([sys.executable, "-c", script, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        said = process.stdout.readline().split()
        assert said[:1] == ["holding"]
        yield process, said
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_lock_name_comes_from_the_run_directory_contract():
    assert LOCK_NAME == rundir.LOCK_NAME == "lock" and RUN_IN_USE_EXIT_CODE == RunInUse.exit_code == 75


def test_lock_is_exclusive_and_released(tmp_path):
    with RunLock(str(tmp_path)):
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == HOST
        assert abs(holder["since"] - time.time()) < 600
        assert is_held(str(tmp_path))
        with pytest.raises(RunInUse, match=f"in use by process {os.getpid()}"):
            RunLock(str(tmp_path)).acquire()
        assert is_held(str(tmp_path))  # the refused attempt closed its descriptor, not ours
    assert [p.name for p in tmp_path.iterdir()] == [] and not is_held(str(tmp_path))
    assert not [t for t in threading.enumerate() if t.name == "rgd_bench-lock-heartbeat"]


def test_a_live_holder_is_refused_and_its_lock_is_free_as_soon_as_it_is_killed(tmp_path):
    with holder_process(tmp_path) as (holder, _):
        assert is_held(str(tmp_path))
        with pytest.raises(RunInUse, match=f"in use by process {holder.pid} on {HOST}") as refused:
            RunLock(str(tmp_path)).acquire()
        assert refused.value.exit_code == 75
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert (tmp_path / LOCK_NAME).exists()  # it died holding: nothing was cleaned up
        assert not is_held(str(tmp_path))
        with RunLock(str(tmp_path)):  # at once: no timeout, no pid check
            assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
            assert is_held(str(tmp_path))
    assert not is_held(str(tmp_path)) and not (tmp_path / LOCK_NAME).exists()


def test_a_forked_child_of_the_holder_neither_frees_its_lock_nor_keeps_it_alive(tmp_path):
    with holder_process(tmp_path, HOLD_AND_FORK) as (holder, said):
        child = int(said[1])
        try:
            assert is_held(str(tmp_path))  # the child that ended did not free the holder's lock
            with pytest.raises(RunInUse, match=f"in use by process {holder.pid}"):
                RunLock(str(tmp_path)).acquire()
            holder.kill()
            holder.wait()
            os.kill(child, 0)  # still running, and its copy of the descriptor was closed at the fork
            assert not is_held(str(tmp_path))
            with RunLock(str(tmp_path)):
                assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    write_lock(tmp_path, HOST, dead_pid())
    assert not is_held(str(tmp_path))
    with RunLock(str(tmp_path)):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert [p.name for p in tmp_path.iterdir()] == []  # no stale leftovers


@pytest.mark.parametrize("content", ["", '{"host": "', "[]"])
def test_an_unreadable_lock_file_left_by_a_crash_is_taken_over(tmp_path, content):
    (tmp_path / LOCK_NAME).write_text(content)
    assert not is_held(str(tmp_path))
    with RunLock(str(tmp_path)):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_lock_of_another_host_goes_stale_only_without_heartbeat(tmp_path):
    write_lock(tmp_path, "another-node", 1, age_s=60)
    before = (tmp_path / LOCK_NAME).read_text()
    assert is_held(str(tmp_path))
    with pytest.raises(RunInUse, match="in use by process 1 on another-node"):
        RunLock(str(tmp_path)).acquire()
    assert (tmp_path / LOCK_NAME).read_text() == before  # refused: their file is left alone
    write_lock(tmp_path, "another-node", 1, age_s=STALE_AFTER_S + 60)
    assert not is_held(str(tmp_path))
    with RunLock(str(tmp_path)):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["host"] == HOST
    assert not (tmp_path / LOCK_NAME).exists()


def test_the_heartbeat_refreshes_the_mtime_until_release(tmp_path, monkeypatch):
    monkeypatch.setattr(runlock, "HEARTBEAT_S", 0.05)
    path = tmp_path / LOCK_NAME
    with RunLock(str(tmp_path)):
        long_ago = time.time() - 1000
        os.utime(path, (long_ago, long_ago))
        wait_for(lambda: path.stat().st_mtime > long_ago + 500, "a heartbeat")
    assert not path.exists()
    assert not [t for t in threading.enumerate() if t.name == "rgd_bench-lock-heartbeat"]


def _race(run_dir, marker, barrier, trials, results):
    """A worker of the stress test: try the lock at each trial; note the trials it held."""
    held, violations = [], 0
    try:
        for trial in range(trials):
            barrier.wait()  # the parent has left a stale lock
            lock = RunLock(run_dir)
            try:
                lock.acquire()
            except RunInUse:
                pass
            else:
                held.append(trial)
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    violations += 1  # someone else holds the lock right now
                else:
                    time.sleep(0.001)  # hold a moment, to widen any window a bug would open
                    os.remove(marker)
                lock.release()
            barrier.wait()  # every worker is done with this trial
        results.put((held, violations, None))
    except BaseException:
        results.put(([], 0, traceback.format_exc()))


@pytest.mark.parametrize("stale", ["dead process on this host", "another host without heartbeat"])
def test_processes_racing_on_a_stale_lock_never_hold_it_together(tmp_path, stale):
    workers, trials = 8, 300
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(workers + 1, timeout=60)
    results = context.Queue()
    run_dir, marker = str(tmp_path / "run"), str(tmp_path / "marker")
    os.mkdir(run_dir)
    host, pid, age_s = (HOST, dead_pid(), 0.0) if stale.startswith("dead") else ("other", 1, STALE_AFTER_S + 60)
    processes = [context.Process(target=_race, args=(run_dir, marker, barrier, trials, results))
                 for _ in range(workers)]
    for process in processes:
        process.start()
    leftovers = 0
    try:
        for _ in range(trials):
            write_lock(run_dir, host, pid, age_s)
            barrier.wait()
            barrier.wait()
            leftovers += os.path.exists(os.path.join(run_dir, LOCK_NAME))  # every holder unlinks its file
        outcomes = [results.get(timeout=60) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    assert [error for _, _, error in outcomes if error] == []
    assert sum(violations for _, violations, _ in outcomes) == 0
    holders = [0] * trials
    for held, _, _ in outcomes:
        for trial in held:
            holders[trial] += 1
    assert min(holders) >= 1 and leftovers == 0


def _probe(run_dir, started, stop, calls):
    while not stop.is_set():
        is_held(run_dir)
        calls.value += 1
        started.set()


@pytest.mark.skipif(not hasattr(fcntl, "F_OFD_GETLK"), reason="flock's probe can make an acquire fail")
def test_is_held_never_makes_an_acquire_fail(tmp_path):
    context = multiprocessing.get_context("fork")
    started, stop, calls = context.Event(), context.Event(), context.Value("l", 0)
    prober = context.Process(target=_probe, args=(str(tmp_path), started, stop, calls))
    prober.start()
    failures = []
    try:
        assert started.wait(60)
        for trial in range(300):
            write_lock(tmp_path, HOST, 0)  # keep a lock file there, unlocked, for the prober to open
            try:
                with RunLock(str(tmp_path)):
                    pass
            except RunInUse as error:
                failures.append((trial, str(error)))
    finally:
        stop.set()
        prober.join(timeout=60)
    assert failures == [] and prober.exitcode == 0 and calls.value > 0


def test_training_into_a_held_directory_is_refused_with_exit_75(tmp_path, train_in_process):
    out = tmp_path / "run"
    out.mkdir()
    with holder_process(out) as (holder, _):
        code, _, err = train_in_process("--dataset", "SpuriousTabular", "--steps", "3", "--output_dir", str(out))
        assert code == 75 and f"in use by process {holder.pid}" in err
        assert not (out / "results.jsonl").exists()
    code, _, _ = train_in_process("--dataset", "SpuriousTabular", "--steps", "3", "--output_dir", str(out))
    assert code == 0 and (out / "done").exists() and not (out / LOCK_NAME).exists()
