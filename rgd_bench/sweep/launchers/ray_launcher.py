"""``ray``: jobs as Ray tasks with num_cpus / num_gpus resources (``pip install 'rgd_bench[ray]'``).

Connects to ``ray.init(address=...)`` (an existing cluster, or a local one when no
address is given).  Ray's usage reporting is switched off: a sweep sends nothing out.

A job whose worker process dies (killed, out of memory, its node lost) is run again by Ray, up
to ``WORKER_DEATH_RETRIES`` times, and resumes from the run's last checkpoint; a job that fails
inside the engine is retried by the sweep's ``retries`` instead.
"""
from __future__ import annotations

import os

from rgd_bench.sweep.jobs import Outcome, run_with_retries
from rgd_bench.sweep.keys import Option
from rgd_bench.sweep.launchers.base import CPUS_PER_JOB, GPUS_PER_JOB, Launcher
from rgd_bench.sweep.plan import Job
from rgd_bench.values import Spec

WORKER_DEATH_RETRIES = 3


def _ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as error:
        raise ImportError("The ray launcher needs Ray: pip install 'rgd_bench[ray]'") from error
    return ray


def _run_task(train_args, sweep_dir, retries):
    outcome = run_with_retries(Job(train_args, sweep_dir), retries)
    return outcome.status, outcome.error


class RayLauncher(Launcher):
    name = "ray"
    OPTIONS = (
        Option("ray_address", Spec(str), "ray.init address", unset="start a local Ray"),
        CPUS_PER_JOB.but(default=1),
        GPUS_PER_JOB,
    )
    ray_address: str | None
    cpus_per_job: float  # Ray takes fractions in Python; the sweep's key is a whole number
    gpus_per_job: float

    def __init__(self, *, init_kwargs: dict | None = None, **options):
        super().__init__(**options)
        self.init_kwargs = init_kwargs or {}

    def run(self, jobs, retries, on_start, on_finish):
        if not jobs:
            return
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=self.ray_address, include_dashboard=False, log_to_driver=False, **self.init_kwargs)
        task = ray.remote(num_cpus=self.cpus_per_job, num_gpus=self.gpus_per_job,
                          max_retries=WORKER_DEATH_RETRIES)(_run_task)
        pending = {task.remote(j.train_args, j.sweep_dir, retries): j for j in jobs}
        for job in jobs:
            on_start(job)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    outcome = Outcome(*ray.get(ref))
                except Exception as error:  # the task or its worker died
                    outcome = Outcome(Outcome.FAILED, f"{type(error).__name__}: {error}"[-4000:])
                on_finish(job, outcome)
