"""Time per training step of each algorithm relative to ERM, interleaved in one process.

Same network, minibatches and device for all; rounds go ERM, GroupDRO, RGD, SGD-HWS,
ALSO, ERM, ... so machine noise hits them alike; the medians are compared.  SGD-HWS's
step includes its draw from a loss history of 10^6 examples.
Targets: RGD <= 1.05x, SGD-HWS <= 1.05x, GroupDRO and ALSO <= 1.15x.

    python benchmarks/step_overhead.py [--model cnn|mlp] [--rounds 20] [--device cpu]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from rgd_bench.hparams import resolve_hparams
from rgd_bench.registry import ALGORITHMS, DATASETS

TARGETS = {"GroupDRO": 1.15, "RGD": 1.05, "SGD_HWS": 1.05, "ALSO": 1.15}
# (dataset whose shape and hparams are used, network it selects)
MODELS = {"cnn": "ColoredMNIST5k", "mlp": "SpuriousTabular"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="cnn",
                        help="cnn: DomainBed's MNIST_CNN on 2x28x28; mlp: the MLP on 10 features")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--history", type=int, default=10**6, help="examples in SGD-HWS's loss history")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    options = parser.parse_args()

    dataset_cls = DATASETS.get(MODELS[options.model])
    shape, classes, domains, batch = dataset_cls.INPUT_SHAPE, 2, 2, 64
    generator = torch.Generator().manual_seed(0)
    minibatches = [(torch.randn(batch, *shape, generator=generator).to(options.device),
                    torch.randint(0, classes, (batch,), generator=generator).to(options.device),
                    torch.arange(batch).to(options.device) + d * batch)
                   for d in range(domains)]
    algorithms = {}
    for name in ["ERM", *TARGETS]:
        cls = ALGORITHMS.get(name)
        torch.manual_seed(0)
        algorithm = cls(shape, classes, domains, resolve_hparams(cls, dataset_cls, 0, 0))
        algorithm.bind_training_examples([options.history // 2, options.history - options.history // 2])
        algorithms[name] = algorithm.to(options.device)

    def step(name: str, algorithm, round_: int) -> None:
        if algorithm.SAMPLES_EXAMPLES:
            draw = torch.Generator().manual_seed(round_)
            ids = algorithm.sample_examples(round_, batch * domains, draw).to(options.device)
            batches = [(x, y, ids[d * batch:(d + 1) * batch]) for d, (x, y, _) in enumerate(minibatches)]
        else:
            batches = minibatches if algorithm.NEEDS_EXAMPLE_IDS else [b[:2] for b in minibatches]
        algorithm.update(batches)

    times = {name: [] for name in algorithms}
    for round_ in range(options.rounds + 2):
        for name, algorithm in algorithms.items():
            if options.device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            step(name, algorithm, round_)
            if options.device.startswith("cuda"):
                torch.cuda.synchronize()
            if round_ >= 2:  # the first two rounds warm up
                times[name].append(time.perf_counter() - started)

    erm = statistics.median(times["ERM"])
    print(f"model {options.model}, batch {batch} x {domains} domains, device {options.device}, "
          f"SGD-HWS history {options.history:,}, {options.rounds} interleaved rounds")
    print(f"{'algorithm':<10} {'median step':>12} {'vs ERM':>8} {'target':>8}")
    for name, samples in times.items():
        median = statistics.median(samples)
        target = f"<= {TARGETS[name]:.2f}x" if name in TARGETS else ""
        verdict = "" if name not in TARGETS else ("ok" if median / erm <= TARGETS[name] else "MISSED")
        print(f"{name:<10} {median * 1e3:>9.2f} ms {median / erm:>7.3f}x {target:>8} {verdict}")


if __name__ == "__main__":
    main()
