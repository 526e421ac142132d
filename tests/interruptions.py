"""Running a job that something interrupts, and checking that it resumed exactly: what the
Slurm and Ray cluster tests share."""
from __future__ import annotations

import json
import os
import signal
import threading

from conftest import comparable_records, read_records, wait_for
from rgd_bench.engine.runlock import describe_holder
from rgd_bench.rundir import LOCK_NAME
from rgd_bench.sweep.jobs import DONE, Outcome, job_state
from rgd_bench.sweep.plan import Job, SweepSpec, plan_jobs

STEPS, CHECKPOINT_FREQ = 3000, 500
RECORDED_STEPS = list(range(0, STEPS, CHECKPOINT_FREQ)) + [STEPS - 1]
WAIT_S = 300  # generous: a loaded machine is slow, but nothing here may hang the suite


def long_job(sweep_dir) -> Job:
    return plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["GroupDRO"], output_dir=str(sweep_dir),
                               n_hparams=1, n_trials=1, single_test_envs=True, steps=STEPS,
                               checkpoint_freq=CHECKPOINT_FREQ))[0]


def recorded_steps(job: Job) -> list[int]:
    try:
        with open(os.path.join(job.output_dir, "results.jsonl"), encoding="utf-8") as f:
            lines = f.read().split("\n")[:-1]  # the last one may be half written
    except FileNotFoundError:
        return []
    return [json.loads(line)["step"] for line in lines]


def in_background(launcher, jobs) -> tuple[threading.Thread, dict[str, Outcome]]:
    finished: dict[str, Outcome] = {}
    thread = threading.Thread(target=launcher.run, daemon=True,
                              args=(jobs, 0, lambda job: None, lambda job, o: finished.__setitem__(job.job_id, o)))
    thread.start()
    return thread, finished


def stop_after_first_checkpoint(job: Job) -> int:
    """Wait for the job's first checkpoint, then stop its process (SIGSTOP); its pid."""
    wait_for(lambda: CHECKPOINT_FREQ in recorded_steps(job), "the job's first checkpoint", WAIT_S, 0.05)
    pid = describe_holder(os.path.join(job.output_dir, LOCK_NAME))["pid"]
    os.kill(pid, signal.SIGSTOP)
    return pid


def finish(thread: threading.Thread, finished: dict, job: Job) -> Outcome:
    wait_for(lambda: not thread.is_alive(), "the launcher to finish", WAIT_S, 0.1)
    return finished[job.job_id]


def assert_resumed_equal(job: Job, outcome: Outcome, uninterrupted) -> None:
    assert outcome.status == Outcome.DONE, outcome.error
    assert job_state(job) == DONE
    assert "Resuming from the checkpoint at step" in open(os.path.join(job.output_dir, "out.txt")).read()
    assert [r["step"] for r in read_records(job.output_dir)] == RECORDED_STEPS  # every record exactly once
    assert comparable_records(job.output_dir) == uninterrupted
