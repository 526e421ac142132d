"""Throughput of the multiprocess launcher for each layout of workers x torch threads,
measured side by side on the same jobs of the default sweep (full length).

Prints jobs per minute for each layout and its ratio to the layout the launcher picks
by default on this machine, so the default can be checked against the best one.

    python benchmarks/worker_layout.py [--jobs 16] [--layouts 1x2 2x1 ...]
"""
from __future__ import annotations

import argparse
import os
import tempfile

from rgd_bench.sweep.launchers.multiprocess import MultiprocessLauncher, default_layout
from rgd_bench.sweep.plan import SweepSpec, plan_jobs
from sweep_throughput import timed  # benchmarks/ is on the path of a script run from it


def jobs_in(sweep_dir: str, n_jobs: int, dataset: str, steps: int | None):
    """The first ``n_jobs`` of the default sweep's algorithms on ``dataset``, every algorithm in turn."""
    jobs = plan_jobs(SweepSpec(datasets=[dataset], algorithms=["ERM", "GroupDRO", "RGD", "SGD_HWS", "ALSO"],
                               output_dir=sweep_dir, n_hparams=2, n_trials=2, steps=steps,
                               extra={"skip_model_save": True}))
    by_algorithm: dict[str, list] = {}
    for job in jobs:
        by_algorithm.setdefault(job.train_args["algorithm"], []).append(job)
    interleaved = [job for group in zip(*by_algorithm.values()) for job in group]
    return interleaved[:n_jobs]


def parse_layout(text: str) -> tuple[int, int]:
    workers, threads = text.split("x")
    return int(workers), int(threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--dataset", default="SpuriousTabular")
    parser.add_argument("--steps", type=int, default=None, help="default: the dataset's")
    parser.add_argument("--layouts", nargs="+", type=parse_layout, default=None,
                        help="WORKERSxTHREADS (default: 1x1, 1xcores, and 1..cores+1 workers x 1 thread)")
    options = parser.parse_args()
    cores = os.cpu_count() or 1
    default = default_layout(cores)
    layouts = options.layouts or sorted({(1, 1), (1, cores), default, *((w, 1) for w in range(2, cores + 2))})
    rates = {}
    for workers, threads in layouts:
        with tempfile.TemporaryDirectory() as root:
            jobs = jobs_in(root, options.jobs, options.dataset, options.steps)
            seconds = timed(MultiprocessLauncher(workers, threads), jobs)
        rates[(workers, threads)] = len(jobs) / seconds * 60
        print(f"  {workers} worker(s) x {threads} thread(s): {seconds:6.1f} s, {rates[(workers, threads)]:5.1f} jobs/min",
              flush=True)
    base = rates.get(default)
    print(f"\n{options.jobs} jobs on {options.dataset}, {cores} cores; the default layout is "
          f"{default[0]} worker(s) x {default[1]} thread(s)")
    for layout, rate in sorted(rates.items(), key=lambda item: -item[1]):
        ratio = f"{rate / base:.2f}x the default" if base else ""
        print(f"  {layout[0]} x {layout[1]}: {rate:5.1f} jobs/min  {ratio}")


if __name__ == "__main__":
    main()
