"""Job states, read from the run directories, and running one job.

State lives on disk: ``done`` (Done), a live lock (Running), ``failed.json``
(Failed, with the tail of the error), any other directory (Incomplete), no directory
(Not launched).  A job whose ticket names a Slurm job still in the queue, and that does not
run yet, is Queued (``job_states`` asks ``squeue`` once for the whole sweep; ``slurm_tickets``).
A job runs through the training engine, which takes the run directory's lock and resumes
from its checkpoint, so a job never runs twice at once and a relaunch continues where a
killed job stopped.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass

from rgd_bench.engine.runlock import RUN_IN_USE_EXIT_CODE, is_held
from rgd_bench.errors import UsageError
from rgd_bench.rundir import FAILURE_NAME, atomic_file, is_done
from rgd_bench.sweep.plan import Job
from rgd_bench.sweep.slurm_tickets import live_tickets

DONE, RUNNING, QUEUED, INCOMPLETE, FAILED, NOT_LAUNCHED = (
    "Done", "Running", "Queued", "Incomplete", "Failed", "Not launched")
STATES = (DONE, RUNNING, QUEUED, INCOMPLETE, FAILED, NOT_LAUNCHED)
ERROR_TAIL_LINES = 25


def job_state(job: Job) -> str:
    run_dir = job.existing_dir()
    if is_done(run_dir):
        return DONE
    if is_held(run_dir):
        return RUNNING
    if os.path.exists(os.path.join(run_dir, FAILURE_NAME)):
        return FAILED
    if os.path.isdir(run_dir):
        return INCOMPLETE
    return NOT_LAUNCHED


def job_states(jobs: list[Job]) -> dict[str, str]:
    """Each job's state by job id: ``job_state``, and Queued for a job that is neither done nor
    running whose Slurm job is still in the queue (pending, or requeued after a preemption)."""
    states = {job.job_id: job_state(job) for job in jobs}
    on_slurm = live_tickets([job for job in jobs if states[job.job_id] not in (DONE, RUNNING)])
    return {job_id: QUEUED if job_id in on_slurm else state for job_id, state in states.items()}


def adopt_legacy_dirs(jobs: list[Job]) -> int:
    """Rename run directories that rgd_bench 0.1 named (its job ids held ``data_dir``) to their
    job's id, so that a sweep launched before resumes instead of starting over.  A directory
    a live process holds is left alone.  Returns how many were adopted."""
    adopted = 0
    for job in jobs:
        legacy = job.legacy_output_dir
        if legacy != job.output_dir and job.existing_dir() == legacy and not is_held(legacy):
            os.rename(legacy, job.output_dir)
            adopted += 1
    return adopted


def failure_of(job: Job) -> dict | None:
    try:
        with open(os.path.join(job.existing_dir(), FAILURE_NAME), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


@dataclass
class Outcome:
    """How one attempt at a job ended: done, failed, or busy (another process runs it)."""

    status: str
    error: str = ""

    DONE, FAILED, BUSY = "done", "failed", "busy"


def record_outcome(job: Job, outcome: Outcome, attempts: int) -> None:
    """Write or clear ``failed.json`` (atomically) after an attempt.  When it cannot be
    written (the disk that failed the job is full), say so in one line and go on: the job
    then shows as Incomplete and the next launch runs it again."""
    path = os.path.join(job.output_dir, FAILURE_NAME)
    try:
        if outcome.status == Outcome.FAILED:
            os.makedirs(job.output_dir, exist_ok=True)
            with atomic_file(path, "w") as f:
                json.dump({"attempts": attempts, "error": outcome.error, "time": time.time()}, f)
        elif outcome.status == Outcome.DONE and os.path.exists(path):
            os.remove(path)
    except OSError as error:
        print(f"rgd_bench.sweep: cannot record the outcome of {job.describe()} in {path!r}: "
              f"{error.strerror or error}", file=sys.stderr)


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-ERROR_TAIL_LINES:])


def run_in_process(job: Job) -> Outcome:
    """Run the job in this process (workers that keep torch imported)."""
    from rgd_bench.engine.runlock import RunInUse
    from rgd_bench.engine.runner import run

    try:
        summary = run(job.config, show_progress=False)  # the sweep reports progress
    except RunInUse as error:
        return Outcome(Outcome.BUSY, str(error))
    except UsageError as error:  # one line says it all (bad input, a full disk)
        return Outcome(Outcome.FAILED, str(error))
    except (KeyboardInterrupt, SystemExit):
        raise  # an interrupt, or a scheduler's preemption exit: not the job's failure
    except BaseException:  # a job's failure must not stop the sweep
        return Outcome(Outcome.FAILED, _tail(traceback.format_exc()))
    return Outcome(Outcome.DONE, summary.status)


def run_in_subprocess(job: Job) -> Outcome:
    """Run the job in a fresh interpreter (DomainBed's way; isolates crashes)."""
    env = dict(os.environ, RGD_BENCH_DIE_WITH_PARENT="1")
    result = subprocess.run([sys.executable, "-m", "rgd_bench.train", *job.argv, "--no_progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode == 0:
        return Outcome(Outcome.DONE)
    if result.returncode == RUN_IN_USE_EXIT_CODE:
        return Outcome(Outcome.BUSY, _tail(result.stderr))
    return Outcome(Outcome.FAILED, f"exit code {result.returncode}\n{_tail(result.stderr)}")


def run_with_retries(job: Job, retries: int, runner=run_in_process) -> Outcome:
    """Up to ``1 + retries`` attempts; the last outcome is recorded on disk."""
    outcome = Outcome(Outcome.FAILED, "not attempted")
    for attempt in range(1, retries + 2):
        outcome = runner(job)
        if outcome.status != Outcome.FAILED:
            break
    record_outcome(job, outcome, attempt)
    return outcome
