"""``local``: one job after another, each in a fresh Python process (DomainBed's way)."""
from __future__ import annotations

from rgd_bench.sweep.jobs import run_in_subprocess, run_with_retries
from rgd_bench.sweep.launchers.base import Launcher


class LocalLauncher(Launcher):
    name = "local"

    def run(self, jobs, retries, on_start, on_finish):
        for job in jobs:
            on_start(job)
            on_finish(job, run_with_retries(job, retries, run_in_subprocess))
