"""The launcher interface: run a list of jobs to the end, reporting as they go."""
from __future__ import annotations

from typing import Callable

from rgd_bench.sweep.jobs import Outcome
from rgd_bench.sweep.plan import Job

Report = Callable[[Job, Outcome], None]


class Launcher:
    """Runs jobs; calls ``on_start(job)`` and ``on_finish(job, outcome)`` as they happen.

    Every launcher runs a job through the training engine, which locks its run directory
    and resumes from its checkpoint; launchers only decide where and when."""

    name = ""

    def run(self, jobs: list[Job], retries: int, on_start: Callable[[Job], None], on_finish: Report) -> None:
        raise NotImplementedError
