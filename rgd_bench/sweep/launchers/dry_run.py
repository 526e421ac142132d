"""``dry_run``: print each job's command and run nothing."""
from __future__ import annotations

import shlex
import sys

from rgd_bench.sweep.launchers.base import Launcher


class DryRunLauncher(Launcher):
    name = "dry_run"

    def run(self, jobs, retries, on_start, on_finish):
        for job in jobs:
            print(shlex.join([sys.executable, "-m", "rgd_bench.train", *job.argv]))
