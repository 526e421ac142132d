"""Wall time of the same 24 short jobs launched two ways, side by side.

1. one new Python process per job, one after another (DomainBed's local launcher; here
   the ``local`` launcher);
2. the ``multiprocess`` launcher: workers import torch once and run many jobs in-process.

Targets: at least 3x less wall time, and under 0.3 s of launcher overhead per job
(overhead = wall time minus the time the jobs spent inside the training engine).

    python benchmarks/sweep_throughput.py [--steps 20] [--workers N]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from rgd_bench.rundir import DONE_NAME, OUT_NAME
from rgd_bench.sweep.launchers.local import LocalLauncher
from rgd_bench.sweep.launchers.multiprocess import MultiprocessLauncher, default_workers
from rgd_bench.sweep.plan import SweepSpec, plan_jobs


def jobs_in(sweep_dir: str, steps: int):
    # 2 algorithms x 3 test environments x 2 hparams seeds x 2 trials = 24 jobs
    return plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["ERM", "GroupDRO"], output_dir=sweep_dir,
                               n_hparams_from=0, n_hparams=2, n_trials=2, single_test_envs=True, steps=steps,
                               checkpoint_freq=steps, extra={"skip_model_save": True}))


def engine_seconds(jobs) -> float:
    """Time the runs spent in the engine: from the creation of each run's out.txt (its
    first log line) to its 'done'."""
    return sum(os.path.getmtime(os.path.join(job.output_dir, DONE_NAME))
               - os.path.getctime(os.path.join(job.output_dir, OUT_NAME)) for job in jobs)


def timed(launcher, jobs) -> float:
    failed = []
    started = time.perf_counter()
    launcher.run(jobs, 0, lambda job: None,
                 lambda job, outcome: failed.append(outcome.error) if outcome.status != "done" else None)
    elapsed = time.perf_counter() - started
    if failed:
        raise SystemExit(f"{len(failed)} jobs did not finish; the first error:\n{failed[0]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None)
    options = parser.parse_args()
    workers = options.workers or default_workers()
    with tempfile.TemporaryDirectory() as root:
        local_jobs = jobs_in(os.path.join(root, "local"), options.steps)
        multi_jobs = jobs_in(os.path.join(root, "multiprocess"), options.steps)
        local_s = timed(LocalLauncher(), local_jobs)
        multi_s = timed(MultiprocessLauncher(workers), multi_jobs)
        n = len(multi_jobs)
        in_engine = engine_seconds(multi_jobs)
    print(f"{n} jobs of {options.steps} steps on SpuriousTabular")
    print(f"  one process per job (DomainBed's local launcher): {local_s:7.1f} s ({local_s / n:.2f} s/job)")
    print(f"  multiprocess launcher, {workers} worker(s):          {multi_s:7.1f} s ({multi_s / n:.2f} s/job)")
    print(f"  speed-up: {local_s / multi_s:.1f}x (target >= 3x)")
    overhead = (multi_s * workers - in_engine) / n
    print(f"  multiprocess launcher overhead: {overhead:.3f} s/job (target < 0.3 s; wall x workers minus "
          f"the {in_engine:.1f} s the runs spent between their first log line and 'done')")


if __name__ == "__main__":
    main()
