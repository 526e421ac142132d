"""A run that cannot write (a full disk, a file-size limit): one line naming the path and
the system's error, exit code 74, nothing half-written, and the same command resumes once
space is back."""
from __future__ import annotations

import contextlib
import errno
import os
import resource
import signal
import subprocess
import sys
import time
import uuid

import pytest

from conftest import comparable_records, run_module
from rgd_bench.rundir import TEMPORARY_MARK

ARGV = ["--dataset", "SpuriousTabular", "--algorithm", "GroupDRO", "--steps", "1500", "--checkpoint_freq", "100",
        "--skip_model_save"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("once") / "run"
    assert run_module("rgd_bench.train", *ARGV, "--output_dir", str(out)).returncode == 0
    return comparable_records(out)


def assert_one_line_storage_error(result: subprocess.CompletedProcess, run_dir, error_text: str) -> None:
    err = result.stderr.strip()
    assert result.returncode == 74, (result.returncode, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"cannot write '{run_dir}" in err and error_text in err and "run the same command again" in err
    assert not [name for name in os.listdir(run_dir) if TEMPORARY_MARK in name]


@pytest.mark.slow
def test_a_file_size_limit_is_one_line_and_the_rerun_completes(tmp_path, uninterrupted):
    out = tmp_path / "run"

    def limit_files():  # in the child: no file may grow beyond 20 KB (a checkpoint is larger)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    limited = subprocess.run([sys.executable, "-m", "rgd_bench.train", *ARGV, "--output_dir", str(out)],
                             capture_output=True, text=True, preexec_fn=limit_files, timeout=300)
    assert_one_line_storage_error(limited, out, os.strerror(errno.EFBIG))
    assert not (out / "done").exists()
    again = run_module("rgd_bench.train", *ARGV, "--output_dir", str(out))
    assert again.returncode == 0, again.stderr
    assert comparable_records(out) == uninterrupted


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 16 MiB mounted for the test (needs root and mount rights; skipped without)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill: {mounted.stderr.strip() or 'mount failed'}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill(path) -> None:
    """Write ``path`` until the file system is full."""
    with open(path, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
    with open(path, "ab", buffering=0) as f, contextlib.suppress(OSError):
        while True:  # the last few bytes
            f.write(b"\0")


@pytest.mark.slow
def test_a_full_disk_mid_run_is_one_line_and_the_run_resumes_once_space_is_freed(small_disk, uninterrupted):
    out = small_disk / f"run {uuid.uuid4().hex[:6]}"  # a space in the path too
    process = subprocess.Popen([sys.executable, "-m", "rgd_bench.train", *ARGV, "--output_dir", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not ((out / "checkpoint.pt").exists() and (out / "results.jsonl").exists()
               and (out / "results.jsonl").read_text().count("\n") >= 3):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before the disk filled"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGSTOP)  # fill the disk while it waits, then let it hit the wall
    fill(small_disk / "filler")
    os.kill(process.pid, signal.SIGCONT)
    _, err = process.communicate(timeout=300)
    assert_one_line_storage_error(subprocess.CompletedProcess([], process.returncode, "", err), out,
                                  os.strerror(errno.ENOSPC))
    records = (out / "results.jsonl").read_bytes()
    assert records.endswith(b"\n")  # no partial record
    os.remove(small_disk / "filler")
    again = run_module("rgd_bench.train", *ARGV, "--output_dir", str(out))
    assert again.returncode == 0, again.stderr
    assert "Resuming from the checkpoint at step" in (out / "out.txt").read_text()
    assert comparable_records(out) == uninterrupted
    assert not [name for name in os.listdir(out) if TEMPORARY_MARK in name]
