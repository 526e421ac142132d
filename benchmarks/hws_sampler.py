"""Per-step cost of SGD-HWS's draw + history update: sum tree vs a full softmax.

One step draws ``b`` examples from softmax(beta * L) over ``n`` examples and writes their
fresh losses back into L.  The naive sampler recomputes the softmax over all n every
step (O(n)); the sum tree walks log2(n) levels per draw and per update (O(b log n)).
Target: under 1 ms per step at n = 10^7 on a 2-core CPU.

    python benchmarks/hws_sampler.py [--batch 128] [--sizes 1e4 1e5 1e6 1e7]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rgd_bench.algorithms._softmax_sampler import SoftmaxSampler


def per_step_seconds(step, n_steps: int) -> float:
    for _ in range(3):  # warm-up
        step()
    started = time.perf_counter()
    for _ in range(n_steps):
        step()
    return (time.perf_counter() - started) / n_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128, help="examples drawn per step (2 envs x 64)")
    parser.add_argument("--beta", type=float, default=10.0)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5, 1e6, 1e7])
    options = parser.parse_args()
    rng = np.random.default_rng(0)
    generator = torch.Generator().manual_seed(0)
    print(f"batch {options.batch}, beta {options.beta}, CPU threads {torch.get_num_threads()}")
    print(f"{'n':>10}  {'sum tree':>12}  {'full softmax':>13}  {'speed-up':>9}  {'tree build':>10}")
    for n in map(int, options.sizes):
        losses = rng.uniform(0, 3, n)
        started = time.perf_counter()
        sampler = SoftmaxSampler(losses, options.beta)
        build_s = time.perf_counter() - started

        def tree_step():
            ids = sampler.sample(rng.random(options.batch))
            sampler.update(ids, rng.uniform(0, 3, options.batch))

        history = torch.from_numpy(losses.astype(np.float32))

        def naive_step():
            probabilities = torch.softmax(options.beta * history, dim=0)
            ids = torch.multinomial(probabilities, options.batch, replacement=True, generator=generator)
            history[ids] = torch.from_numpy(rng.uniform(0, 3, options.batch).astype(np.float32))

        tree_s = per_step_seconds(tree_step, 300)
        naive_s = per_step_seconds(naive_step, max(5, int(3e7 // n)))
        print(f"{n:>10,}  {tree_s * 1e3:>9.3f} ms  {naive_s * 1e3:>10.3f} ms  {naive_s / tree_s:>8.1f}x"
              f"  {build_s:>8.2f} s")
    print("target: sum tree under 1 ms per step at n = 10^7")


if __name__ == "__main__":
    main()
