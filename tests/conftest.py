"""Shared helpers for the test suite."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

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


def wait_for(condition, what: str, timeout_s: float = 30.0, poll_s: float = 0.01) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout_s`` (generous:
    a loaded machine is slow, but a condition that never comes must not hang the suite)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll_s)


def run_module(module: str, *argv: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m module argv...`` in a fresh interpreter (argv list, no shell)."""
    return subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def fresh_python(code: str, timeout: float = 120) -> str:
    """Run ``code`` in a fresh interpreter (what a first import does); its stdout, stripped.
    Fails with the interpreter's stderr if the code does."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def domainbed_env() -> dict[str, str]:
    """The environment of a fresh interpreter that imports the DomainBed checkout this one does."""
    import importlib.util

    root = os.path.dirname(os.path.dirname(importlib.util.find_spec("domainbed").origin))
    env = dict(os.environ, PYTHONPATH=root)
    # wilds checks for updates in a thread at import: keep it off the network.
    env.update(HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", NO_PROXY="")
    return env


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


@pytest.fixture
def cli(capsys):
    """Run one of the command lines in this process (a fresh interpreter costs seconds of
    imports): ``cli("rgd_bench.sweep", *argv)`` gives what ``run_module`` gives."""
    from rgd_bench._cli import run_cli
    from rgd_bench.paper_checks.cli import PROG as CHECKS, main as checks_main
    from rgd_bench.report.cli import PROG as REPORT, main as report_main
    from rgd_bench.sweep.cli import PROG as SWEEP, main as sweep_main
    from rgd_bench.train import main as train_main

    mains = {"rgd_bench.train": train_main,
             "rgd_bench.sweep": lambda argv: run_cli(lambda: sweep_main(argv), SWEEP),
             "rgd_bench.report": lambda argv: run_cli(lambda: report_main(argv), REPORT),
             "rgd_bench.paper_checks": lambda argv: run_cli(lambda: checks_main(argv), CHECKS)}

    def call(module: str, *argv: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            mains[module](list(argv))
        captured = capsys.readouterr()
        return subprocess.CompletedProcess([module, *argv], exit_info.value.code or 0, captured.out, captured.err)

    return call


@pytest.fixture
def plugins_forgotten():
    """Undo what ``--plugins`` imported in this process: its names in the registries, its
    modules (and test modules named ``my_plugin*``), the record of files imported once, so a
    test that registers a plugin leaves the registries as the other tests expect them."""
    from rgd_bench import plugins
    from rgd_bench.registry import ALGORITHMS, DATASETS

    registries = (ALGORITHMS, DATASETS)
    for registry in registries:
        registry.load_plugins()  # builtins and entry points in before the snapshot
    items = [dict(registry._items) for registry in registries]
    files = dict(plugins._imported_files)
    modules = set(sys.modules)

    def forget() -> None:  # also callable mid-test: as if the next command were a new process
        for registry, kept in zip(registries, items):
            registry._items.clear()
            registry._items.update(kept)
        plugins._imported_files.clear()
        plugins._imported_files.update(files)
        for name in set(sys.modules) - modules:
            if name.startswith(("rgd_bench_plugin_", "my_plugin")):
                del sys.modules[name]

    yield forget
    forget()


@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory):
    """The records of ``interruptions.long_job`` run from start to end in this process: what a
    job that was interrupted and resumed must have written."""
    from interruptions import long_job
    from rgd_bench.sweep.jobs import Outcome, run_in_process

    job = long_job(tmp_path_factory.mktemp("uninterrupted"))
    assert run_in_process(job).status == Outcome.DONE
    return comparable_records(job.output_dir)
