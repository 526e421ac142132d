"""``submitit``: Slurm array jobs through submitit (``pip install 'rgd_bench[slurm]'``).

Each job runs in-process on its node through the training engine, and the whole sweep is one
Slurm array (at most ``array_parallelism`` of its jobs running at once).  What Slurm does to a
job, and what follows:

- preempted, or ``signal_delay_s`` before its time limit: Slurm sends SIGUSR2, submitit requeues
  the job (``scontrol requeue``) and the engine resumes from the run's last checkpoint.  A job
  is requeued after its time limit at most ``timeout_requeues`` times, after a preemption always;
- requeued or killed by Slurm (``scontrol requeue``, a node failure): Slurm runs it again
  (``--requeue``), and it resumes from its last checkpoint as well;
- cancelled, or killed for good (out of memory): it leaves the queue without a result; the
  sweep records it Failed, with its Slurm log, and goes on.

The launcher writes each job's ticket (``slurm_tickets``) as it submits, so a relaunch after
the launcher itself died waits on the jobs Slurm still holds instead of submitting them again.
It reads a job's end from submitit's result file and Slurm's queue, never from ``sacct``.
``cluster="local"`` / ``"debug"`` run the same code through submitit's local and debug
executors.
"""
from __future__ import annotations

import logging
import os
import time

from rgd_bench.rundir import is_done
from rgd_bench.sweep.jobs import Outcome, record_outcome, run_with_retries
from rgd_bench.sweep.keys import Option
from rgd_bench.sweep.launchers.base import CPUS_PER_JOB, GPUS_PER_JOB, Launcher
from rgd_bench.sweep.plan import Job
from rgd_bench.sweep.slurm_tickets import live_tickets, slurm_queue, write_ticket
from rgd_bench.values import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Spec

POLL_S = 0.5
QUEUE_POLL_S = 5.0  # squeue is asked at most this often for the whole sweep
# A job gone from the queue without a result file: how long its result may take to appear
# (a shared file system shows files late) before the job is recorded lost.
LOST_AFTER_S = 60.0


def _submitit():
    try:
        import submitit
    except ImportError as error:
        raise ImportError("The submitit launcher needs submitit: pip install 'rgd_bench[slurm]'") from error
    return submitit


def make_task():
    """A checkpointable callable: requeued on preemption/timeout with the same arguments."""
    submitit = _submitit()

    class SweepTask(submitit.helpers.Checkpointable):
        def __call__(self, train_args, sweep_dir, retries):
            outcome = run_with_retries(Job(train_args, sweep_dir), retries)
            return outcome.status, outcome.error

    return SweepTask()


class SubmititLauncher(Launcher):
    name = "submitit"
    WAITS_ON_SLURM_JOBS = True
    OPTIONS = (
        Option("partition", Spec(str), "Slurm partition", unset="the cluster's default"),
        Option("time_min", Spec(int, POSITIVE), "Slurm time limit per job, minutes (requeued on timeout)",
               default=24 * 60),
        GPUS_PER_JOB,
        CPUS_PER_JOB.but(default=2),
        Option("mem_gb", Spec(int, POSITIVE), "Slurm memory per job, GB", default=16),
        Option("array_parallelism", Spec(int, AT_LEAST_ONE), "the most jobs of the sweep's Slurm array running at once",
               default=256),
        Option("signal_delay_s", Spec(int, NON_NEGATIVE),
               "seconds before the time limit that Slurm tells a job to requeue itself", default=90),
        Option("timeout_requeues", Spec(int, NON_NEGATIVE),
               "times a job that reaches its time limit is requeued (preemptions are not counted)", default=3),
        Option("cluster", Spec(str, choices=("slurm", "local", "debug")), "submitit executor: slurm, local or debug",
               unset="slurm where there is one, else local"),
    )
    partition: str | None
    time_min: int
    gpus_per_job: int
    cpus_per_job: int
    mem_gb: int
    array_parallelism: int
    signal_delay_s: int
    timeout_requeues: int
    cluster: str | None

    def __init__(self, *, folder: str | None = None, **options):
        """``folder``: submitit's logs and job files (default ``<sweep>/_submitit``)."""
        super().__init__(**options)
        self.folder = folder

    def executor(self, sweep_dir: str):
        submitit = _submitit()
        folder = self.folder or os.path.join(sweep_dir, "_submitit")
        executor = submitit.AutoExecutor(folder=folder, cluster=self.cluster, slurm_max_num_timeout=self.timeout_requeues,
                                         local_max_num_timeout=self.timeout_requeues)
        parameters = dict(timeout_min=self.time_min, cpus_per_task=self.cpus_per_job, mem_gb=self.mem_gb,
                          slurm_array_parallelism=self.array_parallelism, slurm_signal_delay_s=self.signal_delay_s,
                          # Slurm runs the job again after a node failure or `scontrol requeue`.
                          slurm_additional_parameters={"requeue": True})
        if self.gpus_per_job:
            parameters["gpus_per_node"] = self.gpus_per_job
        if self.partition:
            parameters["slurm_partition"] = self.partition
        executor.update_parameters(**parameters)
        return executor

    def run(self, jobs, retries, on_start, on_finish):
        if not jobs:
            return
        executor = self.executor(jobs[0].sweep_dir)
        on_slurm = executor.cluster == "slurm"
        # sacct is never asked (see the module's docstring): keep submitit from warning that it fails.
        logging.getLogger("submitit").setLevel(logging.ERROR)
        waited = live_tickets(jobs) if on_slurm else {}
        submitit = _submitit()
        handles = {job.job_id: submitit.SlurmJob(folder=waited[job.job_id].folder, job_id=waited[job.job_id].slurm_id)
                   for job in jobs if job.job_id in waited}
        fresh = [job for job in jobs if job.job_id not in waited]
        if fresh:
            submitted = executor.map_array(make_task(), [j.train_args for j in fresh], [j.sweep_dir for j in fresh],
                                           [retries] * len(fresh))
            for job, handle in zip(fresh, submitted):
                if on_slurm:
                    write_ticket(job, handle.job_id, str(handle.paths.folder))
                handles[job.job_id] = handle
        for job in jobs:
            on_start(job)
        watch = _SlurmWatch() if on_slurm else None
        pending = {job.job_id: job for job in jobs}
        while pending:
            if watch:
                watch.refresh()
            for job_id, job in list(pending.items()):
                handle = handles[job_id]
                outcome = _slurm_outcome(job, handle, watch) if watch else _local_outcome(job, handle)
                if outcome is not None:
                    del pending[job_id]
                    on_finish(job, outcome)
            time.sleep(POLL_S)


def _result(job: Job, handle) -> Outcome:
    """The task's outcome (which the task recorded), or how the job failed outside the engine."""
    try:
        return Outcome(*handle.result())
    except Exception as error:  # raised outside the engine, or timed out too often to be requeued
        return _failed_outside(job, f"{type(error).__name__}: {error}"[-4000:])


def _failed_outside(job: Job, error: str) -> Outcome:
    outcome = Outcome(Outcome.FAILED, error)
    record_outcome(job, outcome, attempts=1)
    return outcome


def _local_outcome(job: Job, handle) -> Outcome | None:
    return _result(job, handle) if handle.done() else None


class _SlurmWatch:
    """The queue as last seen, and since when each job has been missing from it."""

    def __init__(self):
        self.queue: dict[str, tuple[str, str]] | None = None
        self.asked = float("-inf")
        self.missing_since: dict[str, float] = {}

    def refresh(self) -> None:
        if time.monotonic() - self.asked >= QUEUE_POLL_S:
            self.queue, self.asked = slurm_queue(), time.monotonic()

    def missing_for(self, handle) -> float:
        """Seconds the job has been seen gone from the queue (0 while it is there, or unknown)."""
        slurm_id = handle.job_id
        if self.queue is None or slurm_id in self.queue:
            self.missing_since.pop(slurm_id, None)
            return 0.0
        return time.monotonic() - self.missing_since.setdefault(slurm_id, time.monotonic())


def _slurm_outcome(job: Job, handle, watch: _SlurmWatch) -> Outcome | None:
    if handle.paths.result_pickle.exists():
        return _result(job, handle)
    if watch.missing_for(handle) < LOST_AFTER_S:
        return None
    if is_done(job.output_dir):
        return Outcome(Outcome.DONE, "done (Slurm's job left no result file)")
    return _failed_outside(job, f"the Slurm job {handle.job_id} left the queue without a result: cancelled, or "
                                f"killed by Slurm (out of memory, its node failed). Its log: {handle.paths.stderr}")
