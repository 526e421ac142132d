"""``submitit``: Slurm array jobs through submitit (``pip install 'rgd_bench[slurm]'``).

Each job runs in-process on its node through the training engine.  The task is
checkpointable: when Slurm preempts it or its time runs out, submitit requeues it and
the engine resumes from the run's last checkpoint.  ``cluster="local"`` / ``"debug"``
run the same code through submitit's local and debug executors (used by the tests).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from rgd_bench.sweep.jobs import Outcome, run_with_retries
from rgd_bench.sweep.launchers.base import Launcher
from rgd_bench.sweep.plan import Job


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
            os.environ["RGD_BENCH_STEP_PROGRESS"] = "0"
            outcome = run_with_retries(Job(train_args, sweep_dir), retries)
            return outcome.status, outcome.error

    return SweepTask()


@dataclass
class SlurmOptions:
    partition: str | None = None
    time_min: int = 24 * 60
    gpus: int = 0
    cpus: int = 2
    mem_gb: int = 16
    array_parallelism: int = 256
    folder: str | None = None  # submitit's logs; default <sweep>/_submitit
    cluster: str | None = None  # None: Slurm when available, else local


class SubmititLauncher(Launcher):
    name = "submitit"

    def __init__(self, options: SlurmOptions | None = None):
        self.options = options or SlurmOptions()

    def executor(self, sweep_dir: str):
        submitit = _submitit()
        o = self.options
        executor = submitit.AutoExecutor(folder=o.folder or os.path.join(sweep_dir, "_submitit"), cluster=o.cluster)
        parameters = dict(timeout_min=o.time_min, cpus_per_task=o.cpus, mem_gb=o.mem_gb,
                          slurm_array_parallelism=o.array_parallelism)
        if o.gpus:
            parameters["gpus_per_node"] = o.gpus
        if o.partition:
            parameters["slurm_partition"] = o.partition
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
