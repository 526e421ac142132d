"""Sweeps: planning as DomainBed, job states on disk, launchers, failures, bad input."""
from __future__ import annotations

import hashlib
import json
import os
import tomllib

import pytest

from conftest import read_records, run_module, without_machine_keys
from rgd_bench.hparams import seed_hash
from rgd_bench.sweep.cli import DEFAULT_SWEEP, main as sweep_main
from rgd_bench.sweep.jobs import DONE, FAILED, INCOMPLETE, NOT_LAUNCHED, job_state
from rgd_bench.sweep.launchers import LAUNCHERS, launcher_options
from rgd_bench.sweep.plan import SPEC_FIELDS, SPEC_KEYS, SPEC_OPTIONS, SweepSpec, plan_jobs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--datasets", "SpuriousTabular", "--algorithms", "ERM", "GroupDRO", "--single_test_envs",
        "--n_hparams", "1", "--n_trials", "1", "--steps", "20", "--checkpoint_freq", "10", "--skip_confirmation"]


def test_plan_follows_domainbed():
    spec = SweepSpec(datasets=["SpuriousTabular", "RotatedMNIST5k"], algorithms=["ERM", "RGD"], output_dir="/s",
                     n_hparams_from=1, n_hparams=3, n_trials=2, steps=7, hparams='{"lr": 0.01}')
    jobs = plan_jobs(spec)
    # 2 trials x (3 + 6 single envs + (3 + 15) pairs) x 2 algorithms x 2 hparams seeds
    assert len(jobs) == 2 * (3 + 3 + 6 + 15) * 2 * 2
    pairs = {tuple(j.train_args["test_envs"]) for j in jobs if j.train_args["dataset"] == "SpuriousTabular"}
    assert pairs == {(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)}
    job = jobs[0]
    a = job.train_args
    assert a["seed"] == seed_hash(a["dataset"], a["algorithm"], a["test_envs"], a["hparams_seed"], a["trial_seed"])
    assert {a["hparams_seed"] for a in (j.train_args for j in jobs)} == {1, 2}
    # The md5 of the canonical arguments as DomainBed's, locations left out (a moved sweep resumes).
    without_locations = {k: v for k, v in a.items() if k != "data_dir"}
    assert job.job_id == hashlib.md5(json.dumps(without_locations, sort_keys=True).encode()).hexdigest()
    assert job.output_dir == os.path.join("/s", job.job_id)
    assert job.argv[job.argv.index("--test_envs") + 1] == "0" and "--output_dir" in job.argv
    assert len({j.job_id for j in jobs}) == len(jobs)
    single = plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["ERM"], output_dir="/s",
                                 single_test_envs=True, n_hparams=1, n_trials=1))
    assert [j.train_args["test_envs"] for j in single] == [[0], [1], [2]]


def test_plan_matches_domainbeds_own_make_args_list():
    sweep = pytest.importorskip("domainbed.scripts.sweep", reason="needs a DomainBed checkout on PYTHONPATH")
    ours = plan_jobs(SweepSpec(datasets=["ColoredMNIST"], algorithms=["ERM", "GroupDRO"], output_dir="/s",
                               n_hparams=2, n_trials=2, data_dir="/d"))
    theirs = sweep.make_args_list(2, ["ColoredMNIST"], ["ERM", "GroupDRO"], 0, 2, None, "/d",
                                  "domain_generalization", 0.2, False, None)
    assert [j.train_args for j in ours] == [{k: v for k, v in t.items() if k != "task"} for t in theirs]


def test_default_sweep_file_mirrors_the_built_in_default():
    with open(os.path.join(REPO, "sweeps", "default.toml"), "rb") as f:
        assert tomllib.load(f) == DEFAULT_SWEEP
    assert len(plan_jobs(SweepSpec(**{k: v for k, v in DEFAULT_SWEEP.items() if k != "launcher"}))) == 180


BAD_SWEEPS = [
    (["--datasets", "SpuriousTabula", "--algorithms", "ERM"], "Did you mean 'SpuriousTabular'"),
    (["--datasets", "SpuriousTabular", "--algorithms", "RDG"], "Unknown algorithm 'RDG'"),
    (["--datasets", "SpuriousTabular", "--algorithms", "ERM", "--n_hparams", "0"],
     "argument --n_hparams: must be an integer >= 1. Got '0' instead."),
    (["--datasets", "SpuriousTabular", "--algorithms", "ERM", "--n_hparams_from", "3", "--n_hparams", "2"],
     "--n_hparams (2) must be larger"),
    (["--datasets", "SpuriousTabular", "--algorithms", "ERM", "--hparams", '{"lrr": 1}'], "Unknown hyperparameter 'lrr'"),
    (["--datasets", "SpuriousTabular", "--algorithms", "ERM", "--launcher", "slurmm"],
     "argument --launcher: must be one of 'local', 'multiprocess', 'dry_run', 'submitit', 'ray'. Got 'slurmm'"),
    (["--datasets", "ColoredMNIST", "--algorithms", "ERM"], "--data_dir is required"),
]


@pytest.mark.parametrize("argv,message", BAD_SWEEPS, ids=[m for _, m in BAD_SWEEPS])
def test_bad_sweeps_are_one_line_exit_2(tmp_path, capsys, argv, message):
    from rgd_bench.sweep.cli import entry_point
    import sys

    out = tmp_path / "sweep"
    sys_argv = sys.argv
    sys.argv = ["x", "launch", *argv, "--output_dir", str(out), "--skip_confirmation"]
    try:
        with pytest.raises(SystemExit) as exit_info:
            entry_point()
    finally:
        sys.argv = sys_argv
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_sweep_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\nn_trails = 2\n')
    result = run_module("rgd_bench.sweep", "list", str(bad))
    assert result.returncode == 2 and "Unknown key 'n_trails'" in result.stderr
    bad.write_text('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\nn_trials = "2"\noutput_dir = "x"\n')
    result = run_module("rgd_bench.sweep", "list", str(bad))
    assert result.returncode == 2 and "'n_trials'" in result.stderr and "integer" in result.stderr


def test_launch_status_relaunch_and_delete(tmp_path, capsys):
    out = str(tmp_path / "sweep")
    assert sweep_main(["launch", *TINY, "--output_dir", out, "--workers", "1"]) == 0
    jobs = plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["ERM", "GroupDRO"], output_dir=out,
                               single_test_envs=True, n_hparams=1, n_trials=1, steps=20, checkpoint_freq=10))
    assert len(jobs) == 6 and all(job_state(j) == DONE for j in jobs)
    assert all([r["step"] for r in read_records(j.output_dir)] == [0, 10, 19] for j in jobs)
    # The launch ends with the leaderboard of what it ran, and the command for the full report.
    first = capsys.readouterr().out
    board = first[first.index("-------- Dataset: SpuriousTabular, model selection method: training-domain"):]
    assert [line.split()[0] for line in board.splitlines()[1:4]] == ["Algorithm", "ERM", "GroupDRO"]
    assert f"python -m rgd_bench.report {out}" in first
    assert sweep_main(["launch", *TINY, "--output_dir", out]) == 0
    relaunch = capsys.readouterr().out
    assert "6 done (skipped)" in relaunch and board.splitlines()[2] in relaunch
    # An interrupted job and a failed one: status tells them apart; delete_incomplete removes both.
    os.remove(os.path.join(jobs[0].output_dir, "done"))
    with open(os.path.join(jobs[1].output_dir, "failed.json"), "w") as f:
        json.dump({"attempts": 1, "error": "Traceback ...\nRuntimeError: boom"}, f)
    os.remove(os.path.join(jobs[1].output_dir, "done"))
    assert job_state(jobs[0]) == INCOMPLETE and job_state(jobs[1]) == FAILED
    assert sweep_main(["status", *TINY, "--output_dir", out]) == 0
    status = capsys.readouterr().out
    assert "6 jobs: 4 done, 0 running, 0 queued, 1 incomplete, 1 failed, 0 not launched" in status
    assert "RuntimeError: boom" in status
    assert sweep_main(["delete_incomplete", *TINY, "--output_dir", out]) == 0
    assert job_state(jobs[0]) == NOT_LAUNCHED and job_state(jobs[1]) == NOT_LAUNCHED
    assert sum(job_state(j) == DONE for j in jobs) == 4


def test_failing_jobs_are_recorded_retried_and_do_not_stop_the_sweep(tmp_path, capsys):
    out = str(tmp_path / "sweep")
    argv = ["launch", "--datasets", "SpuriousTabular", "--algorithms", "ERM", "--n_hparams", "1", "--n_trials", "1",
            "--single_test_envs", "--steps", "5", "--hparams", '{"batch_size": 900}', "--retries", "1",
            "--skip_confirmation", "--output_dir", out, "--workers", "1"]
    assert sweep_main(argv) == 1  # batch 900 > 800 examples of each training split: every job fails
    jobs = plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["ERM"], output_dir=out, n_hparams=1,
                               n_trials=1, single_test_envs=True, steps=5, hparams='{"batch_size": 900}'))
    for job in jobs:
        assert job_state(job) == FAILED
        failure = json.load(open(os.path.join(job.output_dir, "failed.json")))
        assert failure["attempts"] == 2 and "larger than the training split" in failure["error"]
    assert "3 jobs failed" in capsys.readouterr().err


@pytest.mark.parametrize("launcher", ["local", "multiprocess"])
def test_hostile_output_paths(tmp_path, launcher):
    out = tmp_path / "sweep dir with 'quotes' \"double\" and ünïcødé"
    result = run_module("rgd_bench.sweep", "launch", *TINY, "--algorithms", "ERM", "--output_dir", str(out),
                        "--launcher", launcher)
    assert result.returncode == 0, result.stderr
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 3 and all((p / "done").exists() for p in runs)


def test_dry_run_prints_commands_and_runs_nothing(tmp_path):
    out = tmp_path / "a b"
    result = run_module("rgd_bench.sweep", "launch", *TINY, "--output_dir", str(out), "--launcher", "dry_run")
    assert result.returncode == 0
    commands = [line for line in result.stdout.splitlines() if "-m rgd_bench.train" in line]
    assert len(commands) == 6 and all(f"'{out}/" in c for c in commands)
    assert not any(p.is_dir() for p in out.iterdir())


def _sweep_records(out) -> dict:
    records = {}
    for run in sorted(p for p in out.iterdir() if p.is_dir()):
        found = without_machine_keys(read_records(run))
        steps = [r["step"] for r in found]
        assert steps == sorted(set(steps)), f"{run}: a step recorded twice"
        for r in found:
            r["args"].pop("output_dir")
        records[run.name] = found
    return records


@pytest.mark.slow
def test_kill_9_mid_sweep_then_relaunch_completes_every_job_once(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    argv = ["launch", "--datasets", "SpuriousTabular", "--algorithms", "GroupDRO", "SGD_HWS", "--n_hparams", "1",
            "--n_trials", "1", "--single_test_envs", "--steps", "600", "--checkpoint_freq", "50",
            "--skip_confirmation", "--workers", "1"]
    assert run_module("rgd_bench.sweep", *argv, "--output_dir", str(tmp_path / "once")).returncode == 0

    out = tmp_path / "killed"
    sweep = subprocess.Popen([sys.executable, "-m", "rgd_bench.sweep", *argv, "--output_dir", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # one job done, another part-way
        runs = [p for p in out.iterdir() if p.is_dir()] if out.exists() else []
        if any((p / "done").exists() for p in runs) and any(
                (p / "checkpoint.pt").exists() and not (p / "done").exists() for p in runs):
            break
        time.sleep(0.02)
    os.kill(sweep.pid, signal.SIGKILL)
    sweep.wait()
    time.sleep(1.0)  # the workers die with the sweep (PR_SET_PDEATHSIG)
    done_before = {p.name for p in out.iterdir() if (p / "done").exists()}
    assert 0 < len(done_before) < 6
    relaunch = run_module("rgd_bench.sweep", *argv, "--output_dir", str(out))
    assert relaunch.returncode == 0, relaunch.stderr
    assert f"{len(done_before)} done (skipped)" in relaunch.stdout
    assert _sweep_records(out) == _sweep_records(tmp_path / "once")


@pytest.mark.slow
def test_two_launchers_at_once_run_each_job_once(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "shared"
    argv = [sys.executable, "-m", "rgd_bench.sweep", "launch", *TINY, "--steps", "150", "--output_dir", str(out),
            "--launcher", "local"]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert first.wait(timeout=300) == 0 and second.wait(timeout=300) == 0
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 6
    for run in runs:
        assert (run / "done").exists()
        # A run started twice would have printed its header twice into out.txt.
        assert (run / "out.txt").read_text().count("Environment:") == 1
    _sweep_records(out)


def test_switches_in_train_args_become_flags():
    job = plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["ERM"], output_dir="/s", n_hparams=1,
                              n_trials=1, single_test_envs=True,
                              extra={"skip_model_save": True, "save_model_every_checkpoint": False}))[0]
    assert "--skip_model_save" in job.argv and "True" not in job.argv
    assert "--save_model_every_checkpoint" not in job.argv
    from rgd_bench.train import build_parser

    parsed = build_parser().parse_args(job.argv)
    assert parsed.skip_model_save is True and parsed.test_envs == [0]


def _launch_on_a_terminal(cwd, *argv) -> tuple[int, str]:
    """Run ``sweep launch`` with a terminal as stdin and stdout; answer nothing."""
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "rgd_bench.sweep", "launch", *argv], cwd=cwd,
                               stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
        if b"(y/n)" in b"".join(chunks):  # a question: end it, unanswered
            process.kill()
    os.close(leader)
    return process.wait(), b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_the_bare_launch_asks_nothing_a_named_sweep_asks_first(tmp_path):
    # The default sweep, shortened by flags (no dataset or algorithm named): no question.
    code, shown = _launch_on_a_terminal(tmp_path, "--n_hparams", "1", "--n_trials", "1", "--steps", "2",
                                        "--checkpoint_freq", "1")
    assert code == 0 and "(y/n)" not in shown and "30/30 jobs finished" in shown
    assert len(os.listdir(tmp_path / "sweep_output" / "default")) >= 30
    # A sweep named on the command line asks before launching.
    code, shown = _launch_on_a_terminal(tmp_path, *TINY[:-1], "--output_dir", "named")
    assert "Launch 6 jobs? (y/n)" in shown and code != 0
    assert not (tmp_path / "named").exists() or not os.listdir(tmp_path / "named")


@pytest.mark.slow
def test_the_worker_layout_does_not_change_records(tmp_path):
    """Workers x threads is picked from the machine's cores; the records must not depend on it."""
    from conftest import comparable_records
    from rgd_bench.sweep.launchers.multiprocess import MultiprocessLauncher

    layouts = {"1x2": MultiprocessLauncher(1, 2), "2x1": MultiprocessLauncher(2, 1)}
    runs = {}
    for name, launcher in layouts.items():
        jobs = plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["RGD", "SGD_HWS"],
                                   output_dir=str(tmp_path / name), n_hparams_from=1, n_hparams=2, n_trials=1,
                                   single_test_envs=True, steps=60, checkpoint_freq=30,
                                   extra={"skip_model_save": True}))[:4]
        outcomes = []
        launcher.run(jobs, 0, lambda job: None, lambda job, outcome: outcomes.append(outcome.status))
        assert outcomes == ["done"] * 4
        runs[name] = {job.job_id: comparable_records(job.output_dir) for job in jobs}
    assert runs["1x2"] == runs["2x1"]


def test_the_default_layout_uses_every_core_with_one_thread_each():
    from rgd_bench.sweep.launchers.multiprocess import default_layout

    assert default_layout(2) == (2, 1) and default_layout(64) == (64, 1) and default_layout(1) == (1, 1)


# Every sweep key is declared once: the plan's on SweepSpec's fields, each launcher's in its
# OPTIONS; the flags, the sweep file's keys, --help and make_launcher are read from there.

def _sweep_exit(capsys, argv) -> tuple[int, str]:
    """``python -m rgd_bench.sweep argv`` in this process: its exit code and stderr."""
    from rgd_bench._cli import run_cli

    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: sweep_main(argv), "sweep")
    return exit_info.value.code, capsys.readouterr().err


def _bad_word(spec) -> str | None:
    """A command-line word that breaks ``spec`` (None: every word is a string that fits)."""
    if spec.choices:
        return "nope"
    return None if spec.kind is str else "x"


def test_the_plans_keys_are_sweepspecs_fields():
    import dataclasses

    fields = {f.name for f in dataclasses.fields(SweepSpec)}
    assert set(SPEC_FIELDS.values()) == fields and SPEC_FIELDS["train_args"] == "extra" and "extra" not in SPEC_KEYS
    assert [key for key, option in SPEC_OPTIONS.items() if option.required] == ["datasets", "algorithms", "output_dir"]


@pytest.mark.parametrize("key", list(launcher_options()))
def test_each_launcher_option_is_a_flag_and_a_sweep_file_key_checked_by_its_spec(tmp_path, capsys, key):
    from rgd_bench.sweep.cli import build_parser

    option = launcher_options()[key].option
    assert f"--{key}" in build_parser()._option_string_actions
    base = ["list", *TINY, "--output_dir", str(tmp_path / "s")]
    word = _bad_word(option.spec)
    if word is not None:
        code, err = _sweep_exit(capsys, [*base, f"--{key}", word])
        assert code == 2 and len(err.strip().splitlines()) == 1 and f"argument --{key}: must be " in err, err
    sweep = tmp_path / "bad.toml"
    sweep.write_text(f"{key} = [true]\n")
    code, err = _sweep_exit(capsys, [str(sweep), *base])
    assert code == 2 and len(err.strip().splitlines()) == 1 and f"The key '{key}' in " in err, err
    if option.default is not None:  # its default is a good value, in a file and as a flag
        sweep.write_text(f"{key} = {json.dumps(option.default)}\n")
        assert sweep_main([str(sweep), *base, f"--{key}", str(option.default)]) == 0


def test_shared_launcher_options_are_declared_once_with_each_launchers_default():
    options = launcher_options()
    assert options["cpus_per_job"].launchers == ("submitit", "ray")
    assert options["cpus_per_job"].option.unset_text() == "2 with submitit, 1 with ray"
    assert options["gpus_per_job"].launchers == ("submitit", "ray") and options["gpus_per_job"].option.default == 0
    assert options["workers"].launchers == ("multiprocess",)


ECHOED: list = []  # what the echo launcher was given: (echo_times, cpus_per_job, number of jobs)


def _echo_launcher_class():
    """A launcher as a plugin would add one, with an option of its own and a shared one."""
    from rgd_bench.sweep.keys import Option
    from rgd_bench.sweep.launchers.base import CPUS_PER_JOB, Launcher
    from rgd_bench.values import AT_LEAST_ONE, Spec

    class EchoLauncher(Launcher):
        """``echo``: records its options and runs nothing."""

        name = "echo"
        OPTIONS = (Option("echo_times", Spec(int, AT_LEAST_ONE), "times to echo", default=1),
                   CPUS_PER_JOB.but(default=3))

        def run(self, jobs, retries, on_start, on_finish):
            ECHOED.append((self.echo_times, self.cpus_per_job, len(jobs)))

    return EchoLauncher


def test_a_launchers_declared_option_is_a_flag_a_file_key_a_help_line_and_reaches_it(tmp_path, capsys, monkeypatch):
    import sys

    from rgd_bench.sweep.cli import build_parser

    monkeypatch.setattr(sys.modules[__name__], "EchoLauncher", _echo_launcher_class(), raising=False)
    monkeypatch.setitem(LAUNCHERS, "echo", f"{__name__}:EchoLauncher")
    ECHOED.clear()
    out = str(tmp_path / "s")
    assert sweep_main(["launch", *TINY, "--output_dir", out, "--launcher", "echo", "--echo_times", "3"]) == 0
    sweep = tmp_path / "echo.toml"
    sweep.write_text('launcher = "echo"\necho_times = 2\ncpus_per_job = 5\n')
    assert sweep_main(["launch", str(sweep), *TINY, "--output_dir", out]) == 0
    assert ECHOED == [(3, 3, 6), (2, 5, 6)]  # unset: its own default; set: the file's
    help_text = " ".join(build_parser().format_help().split())
    assert "options of the echo launcher: --echo_times ECHO_TIMES times to echo (default: 1)" in help_text
    assert "(default: 2 with submitit, 1 with ray, 3 with echo)" in help_text  # a shared option, one flag
    sweep.write_text("echo_times = 0\n")
    code, err = _sweep_exit(capsys, ["list", str(sweep), *TINY, "--output_dir", out])
    assert code == 2 and "The key 'echo_times' in " in err and "must be an integer >= 1. Got 0 instead." in err
    code, err = _sweep_exit(capsys, ["list", *TINY, "--output_dir", out, "--echo_times", "0"])
    assert code == 2 and "argument --echo_times: must be an integer >= 1. Got '0' instead." in err
    assert len(err.strip().splitlines()) == 1


def test_a_shared_option_declared_two_ways_is_an_error(monkeypatch):
    import sys

    from rgd_bench.sweep.keys import Option
    from rgd_bench.values import Spec

    echo = _echo_launcher_class()
    echo.OPTIONS = (Option("cpus_per_job", Spec(float), "CPUs per job"),)
    monkeypatch.setattr(sys.modules[__name__], "EchoLauncher", echo, raising=False)
    monkeypatch.setitem(LAUNCHERS, "echo", f"{__name__}:EchoLauncher")
    with pytest.raises(ValueError, match="declare the option 'cpus_per_job' differently"):
        launcher_options()
