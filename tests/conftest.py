"""Shared helpers for the test suite."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Keys that measure the machine (time, memory), not the training: they differ between
# two otherwise identical runs.
MACHINE_KEYS = ("step_time", "mem_gb")


def read_records(run_dir: str) -> list[dict]:
    with open(os.path.join(run_dir, "results.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def without_machine_keys(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in MACHINE_KEYS} for r in records]


def comparable_records(run_dir) -> list[dict]:
    """A run's records without machine keys and its output_dir: equal for two runs of the
    same arguments written to different directories (a resumed one and an uninterrupted one)."""
    records = without_machine_keys(read_records(run_dir))
    for r in records:
        r["args"].pop("output_dir")
    return records


def run_module(module: str, *argv: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m module argv...`` in a fresh interpreter (argv list, no shell)."""
    return subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


@pytest.fixture
def train_in_process(capsys):
    """Call the train CLI in this process; return (exit code, stdout, stderr)."""
    from rgd_bench.train import main

    def call(*argv: str):
        with pytest.raises(SystemExit) as exit_info:
            main(list(argv))
        captured = capsys.readouterr()
        return exit_info.value.code, captured.out, captured.err

    return call
