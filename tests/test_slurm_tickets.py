"""Tickets: which jobs of a sweep Slurm holds, without a cluster.  The queue is given here as
``squeue`` would print it (``slurm_queue`` is replaced); ``test_slurm.py`` runs the same code
against a real cluster."""
from __future__ import annotations

import os

import pytest
from hypothesis import given, strategies as st

from rgd_bench.sweep import slurm_tickets
from rgd_bench.sweep.cli import main as sweep_main
from rgd_bench.sweep.jobs import NOT_LAUNCHED, QUEUED, RUNNING, job_states
from rgd_bench.sweep.plan import SweepSpec, plan_jobs
from rgd_bench.sweep.slurm_tickets import Ticket, is_live, live_tickets, read_ticket, ticket_path, write_ticket

ARGS = ["--datasets", "SpuriousTabular", "--algorithms", "ERM", "--single_test_envs", "--n_hparams", "1",
        "--n_trials", "1", "--steps", "20"]


def jobs_in(sweep_dir):
    return plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["ERM"], output_dir=str(sweep_dir),
                               single_test_envs=True, n_hparams=1, n_trials=1, steps=20))


@pytest.fixture
def queue(monkeypatch):
    """What ``squeue`` says: slurm id -> (state, batch script); empty until a test fills it."""
    entries: dict[str, tuple[str, str]] = {}
    monkeypatch.setattr(slurm_tickets, "slurm_queue", lambda: entries)
    return entries


def test_a_ticket_round_trips_and_a_cut_one_means_no_ticket(tmp_path):
    job = jobs_in(tmp_path)[0]
    assert read_ticket(job) is None
    write_ticket(job, "12_3", str(tmp_path / "logs"))
    ticket = read_ticket(job)
    assert (ticket.slurm_id, ticket.folder) == ("12_3", os.path.realpath(tmp_path / "logs"))
    data = open(ticket_path(job), "rb").read()
    with open(ticket_path(job), "wb") as f:
        f.write(data[:-5])
    assert read_ticket(job) is None


@given(st.text(max_size=40))
def test_a_ticket_is_live_only_with_its_id_and_a_script_in_its_folder(other_folder):
    ticket = Ticket("7_0", "/sweeps/a/_submitit", 0.0)
    script = "/sweeps/a/_submitit/.submission_file_x.sh"
    assert is_live(ticket, {"7_0": ("PENDING", script)})
    assert not is_live(ticket, {"7_1": ("PENDING", script)})  # another job
    if "\x00" in other_folder or os.path.dirname(os.path.realpath(other_folder + "/s.sh")) != ticket.folder:
        # the same id on a wiped cluster (ids start at 1 again), submitted by another sweep
        assert not is_live(ticket, {"7_0": ("RUNNING", other_folder + "/s.sh")})


def test_queued_jobs_are_counted_and_a_stale_ticket_is_not(tmp_path, queue):
    jobs = jobs_in(tmp_path / "sweep")
    folder = str(tmp_path / "sweep" / "_submitit")
    for task, job in enumerate(jobs):
        write_ticket(job, f"5_{task}", folder)
    queue.update({"5_0": ("PENDING", f"{folder}/.submission_file_x.sh"),
                  "5_1": ("RUNNING", f"{folder}/.submission_file_x.sh")})
    assert set(live_tickets(jobs)) == {jobs[0].job_id, jobs[1].job_id}
    states = job_states(jobs)
    # 5_1 runs on Slurm but holds no lock here yet (starting up): Queued until the engine holds it.
    assert [states[j.job_id] for j in jobs] == [QUEUED, QUEUED, "Incomplete"]
    assert RUNNING not in states.values() and NOT_LAUNCHED not in states.values()


def test_a_launcher_that_cannot_wait_on_slurm_jobs_leaves_them_to_slurm(tmp_path, queue, capsys):
    out = tmp_path / "sweep"
    jobs = jobs_in(out)
    folder = str(out / "_submitit")
    write_ticket(jobs[0], "9_0", folder)
    queue["9_0"] = ("PENDING", f"{folder}/.submission_file_x.sh")
    assert sweep_main(["launch", *ARGS, "--output_dir", str(out), "--launcher", "local"]) == 0
    printed = capsys.readouterr().out
    assert "1 queued or running on Slurm (skipped), 2 to run with the local launcher" in printed
    states = job_states(jobs)
    assert [states[j.job_id] for j in jobs] == [QUEUED, "Done", "Done"]
    assert sweep_main(["status", *ARGS, "--output_dir", str(out)]) == 0
    assert "3 jobs: 2 done, 0 running, 1 queued" in capsys.readouterr().out


def test_without_squeue_no_job_is_queued(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no squeue on it
    assert slurm_tickets.slurm_queue() is None
    job = jobs_in(tmp_path / "sweep")[0]
    write_ticket(job, "1_0", str(tmp_path))
    assert live_tickets([job]) == {}
