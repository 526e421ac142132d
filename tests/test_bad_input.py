"""Every bad input to the command lines: one line naming the value and what is allowed, exit
code 2, no traceback, nothing written; and random argument vectors never end otherwise."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from report_runs import write_run
from rgd_bench.sweep.plan import MAX_JOBS

SWEEP_BASE = ["--datasets", "SpuriousTabular", "--algorithms", "ERM"]


def one_line(result: subprocess.CompletedProcess, code: int = 2) -> str:
    err = result.stderr.strip()
    assert result.returncode == code, (result.returncode, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# ---- sweep files ------------------------------------------------------------------------------

@pytest.mark.parametrize("content,message", [
    ('datasets = [1, 2]\nalgorithms = ["ERM"]\n', "The key 'datasets' in {path!r} must be a non-empty list of "
                                                  "strings. Got [1, 2] instead."),
    ('datasets = ["SpuriousTabular"]\nalgorithms = "ERM"\n', "The key 'algorithms' in {path!r} must be a "
                                                            "non-empty list of strings"),
    ('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\nn_trials = 0\n', "The key 'n_trials' in {path!r} "
                                                                             "must be an integer >= 1. Got 0"),
    ('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\nholdout_fraction = 1\n', "must be a float in (0, 1)"),
    ('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\nretries = -1\n', "must be an integer >= 0"),
    ('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\nlauncher = "slurm"\n', "must be one of 'local'"),
    ('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\nskip_confirmation = "yes"\n', "must be true or false"),
    ('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\n[train_args]\nnum_wrkers = 2\n',
     "[train_args]: --num_wrkers is not a flag of the train command; did you mean --num_workers?"),
    ('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\n[train_args]\nnum_workers = -2\n',
     "[train_args]: --num_workers must be an integer >= 0. Got -2 instead."),
    ('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\n[train_args]\nsteps = 5\n',
     "[train_args] sets 'steps', which the sweep sets for each job"),
    ('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\n[train_args]\ngroupby_fields = ["y"]\n',
     "--groupby_fields does not apply to SpuriousTabular"),
    ('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\n[train_args]\ndevice = "tpu"\n',
     "[train_args]: --device must be auto, cpu, cuda or cuda:N. Got 'tpu' instead."),
    ('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\n[train_args]\nx = {a = 1}\n',
     "[train_args] x must be a string, number, boolean or list of them"),
    ('datasets = ["SpuriousTabular"\n', "is not valid TOML"),
])
def test_a_bad_sweep_file_is_one_line_and_no_job_directory_is_made(tmp_path, cli, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    out = tmp_path / "out"
    result = cli("rgd_bench.sweep", "launch", str(path), "--output_dir", str(out), "--skip_confirmation")
    assert message.format(path=str(path)) in one_line(result)
    assert not out.exists()


def test_a_sweep_file_that_is_not_utf8_is_one_line(tmp_path, cli):
    path = tmp_path / "latin1.toml"
    path.write_bytes('datasets = ["Caf\xe9"]\n'.encode("latin-1"))
    assert f"The sweep file {str(path)!r} is not UTF-8 text (byte 16)" in one_line(cli("rgd_bench.sweep", "list",
                                                                                       str(path)))


def test_a_sweep_file_may_come_anywhere_on_the_command_line(tmp_path, cli):
    path = tmp_path / "s.toml"
    path.write_text('datasets = ["SpuriousTabular"]\nalgorithms = ["ERM"]\nn_hparams = 1\nn_trials = 1\n'
                    f'single_test_envs = true\noutput_dir = "{tmp_path / "out"}"\n')
    orders = [["list", str(path)], ["list", "--algorithms", "ERM", "GroupDRO", str(path)],
              [str(path), "list", "--n_trials", "2"], ["list", "--output_dir", str(tmp_path / "x.toml"), str(path)]]
    counts = []
    for argv in orders:
        result = cli("rgd_bench.sweep", *argv)
        assert result.returncode == 0, result.stderr
        counts.append(len(result.stdout.splitlines()))
    assert counts == [3, 6, 6, 3]
    assert "one sweep file at a time" in one_line(cli("rgd_bench.sweep", "list", str(path), str(path)))


def test_an_absurd_sweep_is_refused_at_once_saying_how_many_jobs_it_has(tmp_path, cli):
    result = cli("rgd_bench.sweep", "list", *SWEEP_BASE, "--n_trials", "100000000", "--output_dir", str(tmp_path / "o"))
    err = one_line(result)
    assert ("This sweep has 12,000,000,000 jobs (100000000 trials x 6 dataset, test-environment and attribute "
            "settings x 1 algorithms x 20 hparams draws)") in err
    assert f"at most {MAX_JOBS:,}" in err


def test_sweep_list_into_a_closed_pipe_ends_quietly(tmp_path):
    sweep = subprocess.Popen([sys.executable, "-m", "rgd_bench.sweep", "list", *SWEEP_BASE, "--n_trials", "300",
                              "--output_dir", str(tmp_path / "o")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = sweep.stdout.readline()
    sweep.stdout.close()  # as `| head -1` does
    err = sweep.stderr.read().decode()
    assert sweep.wait(timeout=120) == 141 and head.startswith(b"Not launched")
    assert err == "", err


# ---- the report ---------------------------------------------------------------------------------

def test_report_output_into_a_directory_is_one_line(tmp_path, cli):
    write_run(tmp_path / "sweep", "r", test_envs=[0], accs=[{}])
    (tmp_path / "reports").mkdir()
    result = cli("rgd_bench.report", str(tmp_path / "sweep"), "--output", str(tmp_path / "reports"))
    assert "--output" in one_line(result) and "is a directory" in result.stderr
    assert os.listdir(tmp_path / "reports") == []
    (tmp_path / "afile").write_text("x")
    result = cli("rgd_bench.report", str(tmp_path / "sweep"), "--out_dir", str(tmp_path / "afile"))
    assert "exists and is not a directory" in one_line(result)


# ---- property: random argument vectors ------------------------------------------------------------

def _words(flags: dict[str, list[str]], extra: list[str]):
    """Argument vectors of known flags with good and bad values, and stray words."""
    def values(name: str):
        return st.lists(st.sampled_from(flags[name]), max_size=2) if flags[name] else st.just([])

    flag = st.sampled_from(sorted(flags)).flatmap(lambda name: st.tuples(st.just(name), values(name)))
    junk = st.sampled_from(extra) | st.text(max_size=6)
    pieces = st.lists(flag.map(lambda p: [p[0], *p[1]]) | junk.map(lambda w: [w]), max_size=6)
    return pieces.map(lambda ps: [w for p in ps for w in p])


def assert_ended_cleanly(code, err: str) -> int:
    """Exit 0, or exit 2 with one line on stderr; never a traceback.  Returns the code."""
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
    return code


NUMBERS = ["0", "1", "-1", "2.5", "1e999", "nan", "x", "", "99999999999999999999"]
NAMES = ["SpuriousTabular", "ERM", "GroupDRO", "RGD", "Nope", "", "ColoredMNIST", "waterbirds"]
# json: a module that imports and registers nothing.
PLUGINS = ["json", "/nonexistent.py", "my-plugin", "no_such_plugin_module", "/", ""]
TRAIN_FLAGS = {f"--{name}": NUMBERS for name in ("hparams_seed", "trial_seed", "seed", "steps", "checkpoint_freq",
                                                  "holdout_fraction", "num_workers", "eval_batch_size", "test_envs")}
TRAIN_FLAGS.update({"--dataset": NAMES, "--algorithm": NAMES, "--device": ["cpu", "auto", "tpu", "cuda:x"],
                    "--hparams": ['{"lr": 0.1}', '{"lr": -1}', "{", "[]", '{"mlp_width": 0}', '{"x": 1}', "null"],
                    "--groupby_fields": ["y", "background"], "--uniform_over_groups": ["true", "maybe"],
                    "--data_dir": ["/nonexistent"], "--skip_model_save": [], "--save_model_every_checkpoint": [],
                    "--plugins": PLUGINS})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=_words(TRAIN_FLAGS, ["--help-me", "-x", "--steps=3", "--"]))
def test_random_train_command_lines_end_with_0_or_2_and_never_a_traceback(tmp_path, capsys, argv):
    from rgd_bench.train import main

    out = str(tmp_path / uuid.uuid4().hex)  # tmp_path is shared by the examples
    # Always the small dataset and a few steps (the last flag wins), so that a vector that is
    # valid trains for real in a moment.
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--output_dir", out, "--dataset", "SpuriousTabular", "--steps", "3", "--checkpoint_freq", "2"])
    if assert_ended_cleanly(exit_info.value.code, capsys.readouterr().err) == 2:
        assert not os.path.exists(out) or os.listdir(out) == []


SWEEP_FLAGS = {f"--{name}": NUMBERS for name in ("n_hparams_from", "n_hparams", "n_trials", "steps", "checkpoint_freq",
                                                  "holdout_fraction", "workers", "retries", "time_min", "mem_gb")}
SWEEP_FLAGS.update({"--datasets": NAMES, "--algorithms": NAMES, "--launcher": ["dry_run", "nope", "local"],
                    "--hparams": ['{"lr": 0.1}', "{", '{"lr": -1}'], "--cluster": ["local", "x"],
                    "--single_test_envs": [], "--data_dir": ["/nonexistent"], "--plugins": PLUGINS})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(["list", "status", "launch", "delete_incomplete", "nope"]),
       argv=_words(SWEEP_FLAGS, ["x.toml", "--n_trials=2", "-h"]))
def test_random_sweep_command_lines_end_with_0_or_2_and_never_a_traceback(tmp_path, capsys, command, argv):
    from rgd_bench._cli import run_cli
    from rgd_bench.sweep.cli import main

    out = str(tmp_path / uuid.uuid4().hex)
    # launch only ever prints its commands here (the last --launcher wins).
    full = [command, *argv, "--output_dir", out, "--launcher", "dry_run", "--skip_confirmation"]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: main(full), "sweep")
    assert_ended_cleanly(exit_info.value.code, capsys.readouterr().err)


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    for trial in range(2):
        for algorithm in ("ERM", "RGD"):
            write_run(root, f"{algorithm}{trial}", test_envs=[0], trial_seed=trial, algorithm=algorithm,
                      accs=[{"env0_in_acc": 0.4 + trial / 10}, {}])
    return root


REPORT_FLAGS = {"--selection": ["oracle", "iid,loo", "wilds", "bogus", ""], "--format": ["text", "json", "csv",
                "latex", "markdown", "domainbed", "hparams", "pdf"], "--baseline": ["ERM", "none", "RGD", "X"],
                "--include_unfinished": [], "--latex": [], "--input_dir": ["/nonexistent", "."], "--plugins": PLUGINS}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=_words(REPORT_FLAGS, ["--output", "--out_dir", "/dev/null", "-q"]))
def test_random_report_command_lines_end_with_0_or_2_and_never_a_traceback(small_sweep, tmp_path, capsys, monkeypatch,
                                                                           argv):
    from rgd_bench._cli import run_cli
    from rgd_bench.report.cli import main

    monkeypatch.chdir(tmp_path)  # "--output <random word>" writes there, not into the checkout

    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: main([str(small_sweep), *argv]), "report")
    assert_ended_cleanly(exit_info.value.code, capsys.readouterr().err)


@pytest.fixture(scope="module")
def checks_dir(small_sweep, tmp_path_factory):
    """An output directory whose check folders hold a small sweep (none of the claims' runs)."""
    root = tmp_path_factory.mktemp("checks")
    for group in ("hws_mnist", "rgd_domainbed", "tabular"):
        os.symlink(small_sweep, root / group)
    return root


CHECKS_FLAGS = {"--checks": ["hws", "tabular", "rgd_domainbed", "nope", ""], "--quick": [],
                "--output_dir": ["/nonexistent", "."], "--report": ["/dev/null/x.md", "/", "/nonexistent/x.md"]}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=_words(CHECKS_FLAGS, ["--steps", "-q", "x"]))
def test_random_paper_checks_command_lines_end_with_0_or_2_and_never_a_traceback(checks_dir, capsys, argv):
    from rgd_bench._cli import run_cli
    from rgd_bench.paper_checks.cli import main

    # Never trains: only the records already there are read (a sweep without the claims' runs,
    # unless a later --output_dir points elsewhere).
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: main(["--output_dir", str(checks_dir), "--report", str(checks_dir / "checks.md"),
                              *argv, "--no_launch"]), "paper_checks")
    assert_ended_cleanly(exit_info.value.code, capsys.readouterr().err)
