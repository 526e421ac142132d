"""``submitit``: Slurm array jobs through submitit (``pip install 'rgd_bench[slurm]'``).

Each job runs in-process on its node through the training engine.  The task is
checkpointable: when Slurm preempts it or its time runs out, submitit requeues it and
the engine resumes from the run's last checkpoint.  ``cluster="local"`` / ``"debug"``
run the same code through submitit's local and debug executors (used by the tests).
"""
from __future__ import annotations

import os
import time

from rgd_bench.sweep.jobs import Outcome, run_with_retries
from rgd_bench.sweep.keys import Option
from rgd_bench.sweep.launchers.base import CPUS_PER_JOB, GPUS_PER_JOB, Launcher
from rgd_bench.sweep.plan import Job
from rgd_bench.values import POSITIVE, Spec


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
    OPTIONS = (
        Option("partition", Spec(str), "Slurm partition", unset="the cluster's default"),
        Option("time_min", Spec(int, POSITIVE), "Slurm time limit per job, minutes (requeued on timeout)",
               default=24 * 60),
        GPUS_PER_JOB,
        CPUS_PER_JOB.but(default=2),
        Option("mem_gb", Spec(int, POSITIVE), "Slurm memory per job, GB", default=16),
        Option("cluster", Spec(str, choices=("slurm", "local", "debug")), "submitit executor: slurm, local or debug",
               unset="slurm where there is one, else local"),
    )
    partition: str | None
    time_min: int
    gpus_per_job: int
    cpus_per_job: int
    mem_gb: int
    cluster: str | None

    def __init__(self, *, folder: str | None = None, array_parallelism: int = 256, **options):
        """``folder``: submitit's logs (default ``<sweep>/_submitit``); ``array_parallelism``:
        the most jobs of the array that Slurm runs at once."""
        super().__init__(**options)
        self.folder, self.array_parallelism = folder, array_parallelism

    def executor(self, sweep_dir: str):
        submitit = _submitit()
        folder = self.folder or os.path.join(sweep_dir, "_submitit")
        executor = submitit.AutoExecutor(folder=folder, cluster=self.cluster)
        parameters = dict(timeout_min=self.time_min, cpus_per_task=self.cpus_per_job, mem_gb=self.mem_gb,
                          slurm_array_parallelism=self.array_parallelism)
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
        task = make_task()
        submitted = executor.map_array(task, [j.train_args for j in jobs], [j.sweep_dir for j in jobs],
                                       [retries] * len(jobs))
        pending = dict(zip(submitted, jobs))
        for job in jobs:
            on_start(job)
        while pending:
            for handle in [h for h in pending if h.done()]:
                job = pending.pop(handle)
                try:
                    status, error = handle.result()
                    outcome = Outcome(status, error)
                except Exception as error:  # the scheduler lost the job, or it was not requeued
                    outcome = Outcome(Outcome.FAILED, f"{type(error).__name__}: {error}"[-4000:])
                on_finish(job, outcome)
            time.sleep(0.5)
