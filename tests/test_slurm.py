"""The submitit launcher against a real one-node Slurm cluster (``slurm_cluster.py``, started
once for the session): the shared launcher suite, and what Slurm does to jobs: arrays,
preemption (SIGUSR2), ``scontrol requeue``, time limits, cancelled jobs, and a launcher killed
with -9 and launched again.

Locally these tests are skipped, with the reason, when Slurm is not installed or the tests do
not run as root; in CI (``CI=true``) a cluster that cannot start is a failure.

Each interruption is made deterministic with SIGSTOP: the job's process is stopped once a
checkpoint exists, Slurm's signal (or kill) reaches it while it is stopped, and it goes on only
then, so no test depends on the speed of the machine.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import cluster_processes
import slurm_cluster
from conftest import comparable_records, read_records, run_module, wait_for
from interruptions import (CHECKPOINT_FREQ, WAIT_S, assert_resumed_equal, finish, in_background, long_job,
                           stop_after_first_checkpoint)
from test_launchers import HOSTILE, LauncherSuite, run, tiny_jobs
from rgd_bench.engine.runlock import describe_holder
from rgd_bench.rundir import LOCK_NAME
from rgd_bench.sweep import slurm_tickets
from rgd_bench.sweep.cli import load_sweep_file, spec_from
from rgd_bench.sweep.jobs import DONE, FAILED, QUEUED, RUNNING, Outcome, job_state, job_states
from rgd_bench.sweep.launchers import submitit_launcher
from rgd_bench.sweep.launchers.submitit_launcher import SubmititLauncher
from rgd_bench.sweep.plan import Job, plan_jobs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def slurm():
    """A real Slurm cluster for the session, its SLURM_CONF exported to the tests and jobs."""
    missing = slurm_cluster.missing_binaries()
    reason = (f"Slurm is not installed (missing {', '.join(missing)}; apt-get install -y slurm-wlm munge)"
              if missing else "" if os.geteuid() == 0 else "starting a Slurm cluster needs root")
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI runs the Slurm tests against a real cluster: {reason}")
        pytest.skip(reason)
    root = tempfile.mkdtemp(prefix="rgd_bench_slurm_")
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = slurm_cluster.start(root)
    try:
        yield root
    finally:
        slurm_cluster.stop(root)
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
        shutil.rmtree(root, ignore_errors=True)


def slurm_launcher(tmp_path, **options) -> SubmititLauncher:
    settings = dict(cluster="slurm", time_min=60, mem_gb=1, cpus_per_job=1)
    return SubmititLauncher(folder=str(tmp_path / "submitit logs"), **{**settings, **options})


@pytest.mark.usefixtures("slurm")
class TestSlurm(LauncherSuite):
    def make_launcher(self, tmp_path):
        return slurm_launcher(tmp_path)


def pending_signals(pid: int) -> int:
    """The signals pending for the process (its own and its thread group's), as a bit mask."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except FileNotFoundError:
        return 0
    return int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)


def is_stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except FileNotFoundError:
        return False


def signalled(pid: int, sig: int) -> bool:
    """The signal reached the stopped process: it is pending, or Slurm sent SIGCONT with it (as
    slurmstepd does for its own signals), so the process already handles it."""
    return bool(pending_signals(pid) & (1 << (sig - 1))) or not is_stopped(pid)


def slurm_id(job: Job) -> str:
    return slurm_tickets.read_ticket(job).slurm_id


def slurm_command(*argv: str) -> str:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{' '.join(argv)}: {result.stderr}"
    return result.stdout


def queue_state(job: Job) -> str | None:
    queue = slurm_tickets.slurm_queue() or {}
    return queue.get(slurm_id(job), (None,))[0]


@pytest.mark.usefixtures("slurm")
def test_results_equal_the_local_launchers(tmp_path):
    from rgd_bench.sweep.launchers.local import LocalLauncher

    on_slurm, local = tiny_jobs(tmp_path / HOSTILE), tiny_jobs(tmp_path / "local")
    run(slurm_launcher(tmp_path), on_slurm)
    run(LocalLauncher(), local)
    assert [j.job_id for j in on_slurm] == [j.job_id for j in local]
    for a, b in zip(on_slurm, local):
        assert comparable_records(a.output_dir) == comparable_records(b.output_dir)


@pytest.mark.usefixtures("slurm")
def test_a_sweep_is_one_array_running_at_most_array_parallelism_jobs(tmp_path):
    jobs = tiny_jobs(tmp_path / "s", steps=300)
    thread, finished = in_background(slurm_launcher(tmp_path, array_parallelism=1), jobs)
    most_running = 0
    while thread.is_alive():
        queue = slurm_tickets.slurm_queue() or {}
        most_running = max(most_running, sum(state == "RUNNING" for state, _ in queue.values()))
        time.sleep(0.1)
    ids = sorted(slurm_id(job) for job in jobs)
    array = ids[0].split("_")[0]
    assert ids == [f"{array}_{task}" for task in range(len(jobs))]  # one array, one task per job
    assert most_running <= 1
    assert all(outcome.status == Outcome.DONE for outcome in finished.values())


def interrupted_on_slurm(tmp_path, interrupt) -> tuple[Job, Outcome]:
    """Launch ``long_job`` on Slurm, stop it after its first checkpoint, ``interrupt(job, pid)``,
    and wait for the launcher: the job and its outcome."""
    job = long_job(tmp_path / "s")
    thread, finished = in_background(slurm_launcher(tmp_path), [job])
    interrupt(job, stop_after_first_checkpoint(job))
    return job, finish(thread, finished, job)


@pytest.mark.usefixtures("slurm")
def test_a_job_preempted_with_usr2_resumes_from_its_checkpoint(tmp_path, uninterrupted):
    """Slurm's preemption signal: submitit checkpoints the task and requeues the job."""
    def preempt(job, pid):
        slurm_command("scancel", "--signal=USR2", slurm_id(job))
        wait_for(lambda: signalled(pid, signal.SIGUSR2), "SIGUSR2 to reach the job", WAIT_S, 0.05)
        os.kill(pid, signal.SIGCONT)

    assert_resumed_equal(*interrupted_on_slurm(tmp_path, preempt), uninterrupted)
    assert "this job is preempted" in _submitit_log(tmp_path)


@pytest.mark.usefixtures("slurm")
def test_a_job_killed_by_scontrol_requeue_resumes_from_its_last_checkpoint(tmp_path, uninterrupted):
    """``scontrol requeue``: SIGTERM, SIGKILL after KillWait, and Slurm runs the job again."""
    def requeue(job, pid):
        slurm_command("scontrol", "requeue", slurm_id(job))
        wait_for(lambda: not cluster_processes.alive(pid), "the stopped job to be killed", WAIT_S, 0.05)

    assert_resumed_equal(*interrupted_on_slurm(tmp_path, requeue), uninterrupted)


@pytest.mark.usefixtures("slurm")
def test_a_job_past_its_time_limit_is_requeued_and_finishes(tmp_path, uninterrupted):
    """Slurm signals a job ``signal_delay_s`` before its time limit; submitit requeues it.  The
    job starts with an hour and the test cuts its limit to one minute once a checkpoint exists
    (Slurm checks limits every 30 s, so the signal comes within 30 s); once requeued, the test
    gives it its hour back, so that the second run is not signalled in turn."""
    def time_out(job, pid):
        slurm_command("scontrol", "update", f"JobId={slurm_id(job)}", "TimeLimit=1")
        wait_for(lambda: signalled(pid, signal.SIGUSR2), "Slurm's time-limit signal", WAIT_S, 0.1)
        os.kill(pid, signal.SIGCONT)
        wait_for(lambda: queue_state(job) == "PENDING", "the job to be requeued", WAIT_S, 0.05)
        slurm_command("scontrol", "update", f"JobId={slurm_id(job)}", "TimeLimit=60")

    assert_resumed_equal(*interrupted_on_slurm(tmp_path, time_out), uninterrupted)


@pytest.mark.usefixtures("slurm")
def test_a_job_cancelled_on_slurm_is_recorded_failed_and_the_others_go_on(tmp_path, monkeypatch):
    """A job that leaves the queue without a result (scancel, killed for memory) must not keep the
    sweep waiting forever: it is recorded Failed with its log, and the others finish."""
    monkeypatch.setattr(submitit_launcher, "LOST_AFTER_S", 1.0)
    doomed = long_job(tmp_path / "s")
    others = tiny_jobs(tmp_path / "s")
    thread, finished = in_background(slurm_launcher(tmp_path), [doomed, *others])
    stop_after_first_checkpoint(doomed)
    slurm_command("scancel", slurm_id(doomed))
    finish(thread, finished, doomed)
    assert finished[doomed.job_id].status == Outcome.FAILED
    assert f"the Slurm job {slurm_id(doomed)} left the queue without a result" in finished[doomed.job_id].error
    assert job_state(doomed) == FAILED
    assert all(finished[job.job_id].status == Outcome.DONE for job in others)


@pytest.mark.usefixtures("slurm")
def test_a_relaunch_after_the_launcher_was_killed_waits_on_the_jobs_slurm_holds(tmp_path):
    """The launcher killed with -9 while its jobs are queued and running on Slurm: they go on;
    the sweep's status shows them Queued and Running; a relaunch waits on them, submits nothing
    again, and every run ends with each record exactly once."""
    sweep_file = tmp_path / "slurm.toml"
    sweep_file.write_text("\n".join([
        'datasets = ["SpuriousTabular"]', 'algorithms = ["ERM"]', "n_hparams = 1", "n_trials = 1",
        "single_test_envs = true", "steps = 1000", f"checkpoint_freq = {CHECKPOINT_FREQ}",
        f"output_dir = {json.dumps(str(tmp_path / 'sweep'))}", 'launcher = "submitit"', 'cluster = "slurm"',
        "array_parallelism = 1", "time_min = 60", "mem_gb = 1", "cpus_per_job = 1", ""]))
    first = subprocess.Popen([sys.executable, "-m", "rgd_bench.sweep", "launch", str(sweep_file)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    jobs = plan_jobs(spec_from(load_sweep_file(str(sweep_file))))  # one per test environment
    assert len(jobs) == 3
    try:
        wait_for(lambda: all(slurm_tickets.read_ticket(j) for j in jobs) and RUNNING in job_states(jobs).values(),
                 "the jobs on Slurm, one running", WAIT_S, 0.05)
        pid = describe_holder(os.path.join(next(j for j in jobs if job_state(j) == RUNNING).output_dir,
                                           LOCK_NAME))["pid"]
        os.kill(pid, signal.SIGSTOP)  # the running job does not finish while the launcher dies
        first.kill()
        first.wait()
        tickets = {j.job_id: slurm_id(j) for j in jobs}
        assert sorted(job_states(jobs).values()) == [QUEUED, QUEUED, RUNNING]
        status = run_module("rgd_bench.sweep", "status", str(sweep_file))
        assert "3 jobs: 0 done, 1 running, 2 queued, 0 incomplete" in status.stdout, status.stdout
        relaunch = subprocess.Popen([sys.executable, "-m", "rgd_bench.sweep", "launch", str(sweep_file)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.kill(pid, signal.SIGCONT)
        out, err = relaunch.communicate(timeout=WAIT_S)
    finally:
        first.kill()
    assert relaunch.returncode == 0, err
    assert "3 queued or running on Slurm (waited on), 0 to run with the submitit launcher" in out
    assert {j.job_id: slurm_id(j) for j in jobs} == tickets  # nothing submitted again
    folder = tmp_path / "sweep" / "_submitit"
    assert len([name for name in os.listdir(folder) if name.startswith(".submission_file")]) == 1
    for job in jobs:
        assert job_state(job) == DONE
        assert [r["step"] for r in read_records(job.output_dir)] == [0, 500, 999]
        assert "Resuming" not in open(os.path.join(job.output_dir, "out.txt")).read()  # each ran once


def _submitit_log(tmp_path) -> str:
    folder = tmp_path / "submitit logs"
    return "".join(open(folder / name).read() for name in os.listdir(folder) if name.endswith("_log.err"))


@pytest.mark.usefixtures("slurm")
def test_the_shipped_slurm_sweep_runs_on_a_cluster(tmp_path):
    """``sweeps/slurm.toml``, the README's example, with this cluster's partition and no GPU."""
    from conftest import REPO_ROOT

    sweep_file = os.path.join(REPO_ROOT, "sweeps", "slurm.toml")
    flags = ["--partition", "debug", "--gpus_per_job", "0", "--cpus_per_job", "1", "--mem_gb", "1",
             "--algorithms", "ERM", "--n_hparams", "1", "--n_trials", "1", "--steps", "20", "--single_test_envs",
             "--output_dir", str(tmp_path / "sweep")]
    launched = run_module("rgd_bench.sweep", "launch", sweep_file, *flags, timeout=WAIT_S)
    assert launched.returncode == 0, launched.stderr
    assert "3 jobs: 0 done (skipped), 0 running elsewhere (skipped), 3 to run with the submitit launcher" \
        in launched.stdout
    status = run_module("rgd_bench.sweep", "status", sweep_file, *flags)
    assert "3 jobs: 3 done, 0 running, 0 queued" in status.stdout, status.stdout
