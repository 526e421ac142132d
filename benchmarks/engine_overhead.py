"""Share of a run's wall time spent outside ``algorithm.update`` and evaluation.

Everything else (building the dataset and splits, drawing and gathering minibatches,
logging, writing records and checkpoints) is engine overhead.  Target: <= 5% on the
embedded ColoredMNIST.

    python benchmarks/engine_overhead.py [--dataset ColoredMNIST5k] [--steps 201]
"""
from __future__ import annotations

import argparse
import tempfile

from rgd_bench import RunConfig, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ColoredMNIST5k")
    parser.add_argument("--algorithm", default="ERM")
    parser.add_argument("--steps", type=int, default=201)
    parser.add_argument("--checkpoint_freq", type=int, default=100, help="DomainBed's default for MNIST")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        summary = run(RunConfig(dataset=options.dataset, algorithm=options.algorithm, steps=options.steps,
                                checkpoint_freq=options.checkpoint_freq, output_dir=out), show_progress=False)
    other = summary.wall_s - summary.update_s - summary.eval_s
    print(f"\n{options.algorithm} on {options.dataset}, {summary.steps_run} steps, "
          f"checkpoint every {options.checkpoint_freq}:")
    print(f"  wall time          {summary.wall_s:8.2f} s")
    print(f"  algorithm.update   {summary.update_s:8.2f} s")
    print(f"  evaluation         {summary.eval_s:8.2f} s")
    print(f"  engine overhead    {other:8.2f} s = {100 * other / summary.wall_s:.2f}% of wall time "
          f"(target <= 5%)")


if __name__ == "__main__":
    main()
