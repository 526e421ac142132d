"""One run-directory contract: names, identity without locations, foreign files refused,
checkpoint problems in one line, and nothing half-written left behind."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import comparable_records, read_records, run_module
from rgd_bench import rundir
from rgd_bench.report.records import load_sweeps
from rgd_bench.sweep.jobs import DONE, NOT_LAUNCHED, job_state
from rgd_bench.sweep.plan import SweepSpec, plan_jobs
from test_train import _kill_mid_way

TABULAR = ["--dataset", "SpuriousTabular", "--algorithm", "GroupDRO", "--skip_model_save"]


def one_line_error(result: subprocess.CompletedProcess, code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# ---- identity ---------------------------------------------------------------------------

def test_identity_leaves_out_where_a_run_lives():
    a = {"dataset": "VLCS", "trial_seed": 0, "output_dir": "/a", "data_dir": "/d1"}
    b = {"dataset": "VLCS", "trial_seed": 0, "output_dir": "/b/c", "data_dir": None}
    assert rundir.identity(a) == rundir.identity(b) == {"dataset": "VLCS", "trial_seed": 0}
    assert rundir.job_id(a) == rundir.job_id(b) != rundir.job_id({**a, "trial_seed": 1})
    assert rundir.legacy_job_id(a) != rundir.legacy_job_id(b)  # 0.1 named them apart


@pytest.mark.slow
def test_a_run_moved_mid_way_resumes_where_it_stopped(tmp_path):
    def argv(out):
        return [*TABULAR, "--steps", "1500", "--checkpoint_freq", "100", "--output_dir", str(out)]

    assert run_module("rgd_bench.train", *argv(tmp_path / "once")).returncode == 0
    _kill_mid_way(argv(tmp_path / "here"), tmp_path / "here", 4)
    shutil.move(tmp_path / "here", tmp_path / "moved")
    resumed = run_module("rgd_bench.train", *argv(tmp_path / "moved"))
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming from the checkpoint at step" in (tmp_path / "moved" / "out.txt").read_text()
    assert comparable_records(tmp_path / "moved") == comparable_records(tmp_path / "once")
    # Its records name the old output_dir up to the move and the new one after: one run to the report.
    sweep = load_sweeps([str(tmp_path / "moved")])
    assert sweep.n_rejected == 0 and sweep.n_records == len(read_records(tmp_path / "once"))


SWEEP = ["--datasets", "SpuriousTabular", "--algorithms", "ERM", "--single_test_envs", "--n_hparams", "1",
         "--n_trials", "1", "--steps", "20", "--checkpoint_freq", "10", "--skip_confirmation", "--workers", "1"]


@pytest.mark.slow
def test_a_copied_sweep_and_one_whose_data_moved_resume_their_unfinished_jobs(tmp_path, cli):
    assert cli("rgd_bench.sweep", "launch", *SWEEP, "--output_dir", str(tmp_path / "a")).returncode == 0
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    jobs = plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["ERM"], output_dir=str(tmp_path / "b"),
                               single_test_envs=True, n_hparams=1, n_trials=1, steps=20, checkpoint_freq=10))
    os.remove(os.path.join(jobs[0].output_dir, "done"))  # unfinished in the copy
    relaunch = cli("rgd_bench.sweep", "launch", *SWEEP, "--output_dir", str(tmp_path / "b"),
                   "--data_dir", str(tmp_path / "data elsewhere"))
    assert relaunch.returncode == 0, relaunch.stderr
    assert "1 jobs: 0" not in relaunch.stdout and "2 done (skipped)" in relaunch.stdout
    assert all(job_state(job) == DONE for job in jobs)
    assert read_records(jobs[0].output_dir)[-1]["args"]["output_dir"] == jobs[0].output_dir


def test_a_sweep_launched_by_rgd_bench_0_1_is_adopted_not_run_again(tmp_path, cli):
    out = tmp_path / "s"
    assert cli("rgd_bench.sweep", "launch", *SWEEP, "--output_dir", str(out)).returncode == 0
    jobs = plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["ERM"], output_dir=str(out),
                               single_test_envs=True, n_hparams=1, n_trials=1, steps=20, checkpoint_freq=10))
    for job in jobs:  # as 0.1 named them
        os.rename(job.output_dir, job.legacy_output_dir)
    assert [job_state(job) for job in jobs] == [DONE] * 3  # status reads them where they are
    relaunch = cli("rgd_bench.sweep", "launch", *SWEEP, "--output_dir", str(out))
    assert relaunch.returncode == 0, relaunch.stderr
    assert "Adopted 3 run directories" in relaunch.stdout and "3 done (skipped)" in relaunch.stdout
    assert all(os.path.isdir(job.output_dir) and not os.path.exists(job.legacy_output_dir) for job in jobs)


# ---- foreign directories -----------------------------------------------------------------

@pytest.mark.parametrize("content,why", [
    ("name,score\nalice,3\n", "is not a record of a run"),
    ('{"step": 0}\n', "is not a record of a run"),
    ("", None),  # an empty results.jsonl is a run that recorded nothing yet: taken
])
def test_a_results_file_that_is_not_a_record_is_refused_and_left_alone(tmp_path, cli, content, why):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.jsonl").write_text(content)
    result = cli("rgd_bench.train", *TABULAR, "--steps", "3", "--output_dir", str(out))
    if why is None:
        assert result.returncode == 0, result.stderr
        return
    assert why in one_line_error(result)
    assert (out / "results.jsonl").read_text() == content and sorted(os.listdir(out)) == ["results.jsonl"]


def test_a_directory_of_other_files_is_refused(tmp_path, cli):
    (tmp_path / "notes.txt").write_text("mine")
    result = cli("rgd_bench.train", *TABULAR, "--steps", "3", "--output_dir", str(tmp_path))
    assert "holds other files (notes.txt) and no run" in one_line_error(result)
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_a_fifo_as_results_file_is_refused_without_hanging(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    os.mkfifo(out / "results.jsonl")
    # In a fresh process, so that a hang would end in the timeout and fail the test.
    result = run_module("rgd_bench.train", *TABULAR, "--steps", "3", "--output_dir", str(out), timeout=120)
    assert "not a regular file" in one_line_error(result)


# ---- checkpoints and temporary files ------------------------------------------------------

@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory):
    """A run killed mid-way: a checkpoint and some records, no done."""
    out = tmp_path_factory.mktemp("interrupted") / "run"
    _kill_mid_way([*TABULAR, "--steps", "1500", "--checkpoint_freq", "100", "--output_dir", str(out)], out, 3)
    return out


@pytest.mark.parametrize("damage,why", [
    (lambda data: b"", "the file is empty"),
    (lambda data: data[:len(data) // 2], "it is truncated, damaged or not a checkpoint"),
    (lambda data: os.urandom(len(data)), "it is truncated, damaged or not a checkpoint"),
    (lambda data: b"\x80\x04K\x01.", "it is truncated, damaged or not a checkpoint"),  # a pickle, not a zip
])
def test_a_damaged_checkpoint_is_one_line(tmp_path, cli, interrupted_run, damage, why):
    out = tmp_path / "run"
    shutil.copytree(interrupted_run, out)
    checkpoint = out / "checkpoint.pt"
    checkpoint.write_bytes(damage(checkpoint.read_bytes()))
    result = cli("rgd_bench.train", *TABULAR, "--steps", "1500", "--checkpoint_freq", "100", "--output_dir", str(out))
    err = one_line_error(result)
    assert f"cannot resume from {str(checkpoint)!r}: {why}" in err and "delete it to start the run over" in err
    assert "weights_only" not in err


def test_temporary_files_left_by_a_killed_writer_are_removed(tmp_path, cli, interrupted_run):
    out = tmp_path / "run"
    shutil.copytree(interrupted_run, out)
    orphans = [out / "checkpoint.pt.tmp-12345-abcd", out / "done.tmp-999-0000", out / "model.pkl.tmp-1-2"]
    for orphan in orphans:
        orphan.write_bytes(b"half")
    result = cli("rgd_bench.train", *TABULAR, "--steps", "1500", "--checkpoint_freq", "100", "--output_dir", str(out))
    assert result.returncode == 0, result.stderr
    assert not any(path.exists() for path in orphans)
    assert not [name for name in os.listdir(out) if rundir.TEMPORARY_MARK in name]


def test_atomic_file_leaves_the_old_file_and_no_temporary_on_error(tmp_path):
    path = tmp_path / "f"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with rundir.atomic_file(str(path), "w") as f:
            f.write("new, half")
            raise RuntimeError("disk gone")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["f"]


def test_job_states_read_through_the_contract(tmp_path):
    job = plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["ERM"], output_dir=str(tmp_path),
                              single_test_envs=True, n_hparams=1, n_trials=1))[0]
    assert job_state(job) == NOT_LAUNCHED
    os.makedirs(job.output_dir)
    rundir.mark_done(job.output_dir)
    assert job_state(job) == DONE and rundir.is_done(job.output_dir)
    assert json.loads(json.dumps(job.train_args))["dataset"] == "SpuriousTabular"
