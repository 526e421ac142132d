"""Every registered algorithm passes these checks on every embedded dataset, with no
extra code: a new algorithm is covered the moment it is registered."""
from __future__ import annotations

import io
import math

import pytest
import torch

from rgd_bench.hparams import resolve_hparams
from rgd_bench.registry import ALGORITHMS, DATASETS

EMBEDDED_DATASETS = ["ColoredMNIST5k", "RotatedMNIST5k", "SpuriousTabular"]
BATCH = 8
_datasets: dict[str, object] = {}


def embedded(name: str):
    """Build each embedded dataset once per test session."""
    if name not in _datasets:
        torch.manual_seed(0)
        _datasets[name] = DATASETS.get(name)(None, [0], {})
    return _datasets[name]


def minibatches(dataset, offset: int = 0):
    """One small minibatch from each training environment (env 0 is the test env)."""
    return [(env.tensors[0][offset:offset + BATCH], env.tensors[1][offset:offset + BATCH])
            for env in dataset.datasets[1:]]


def build(algorithm_name: str, dataset, seed: int = 0):
    torch.manual_seed(seed)
    cls = ALGORITHMS.get(algorithm_name)
    hparams = resolve_hparams(cls, type(dataset), 0, 0, {"batch_size": BATCH})
    return cls(dataset.input_shape, dataset.num_classes, len(dataset) - 1, hparams)


CASES = [(a, d) for a in ALGORITHMS.names() for d in EMBEDDED_DATASETS]


@pytest.fixture(params=CASES, ids=[f"{a}-{d}" for a, d in CASES])
def case(request):
    algorithm_name, dataset_name = request.param
    return algorithm_name, embedded(dataset_name)


def test_update_returns_finite_floats(case):
    algorithm_name, dataset = case
    algorithm = build(algorithm_name, dataset)
    for step in range(2):
        values = algorithm.update(minibatches(dataset, step * BATCH))
        assert values and all(isinstance(k, str) for k in values)
        assert all(type(v) is float and math.isfinite(v) for v in values.values()), values


def test_predict_shape(case):
    algorithm_name, dataset = case
    algorithm = build(algorithm_name, dataset)
    x = dataset.datasets[0].tensors[0][:5]
    assert algorithm.predict(x).shape == (5, dataset.num_classes)


def test_training_state_round_trips_through_a_safe_file(case):
    algorithm_name, dataset = case
    trained = build(algorithm_name, dataset, seed=0)
    trained.update(minibatches(dataset))
    buffer = io.BytesIO()
    torch.save(trained.training_state(), buffer)
    buffer.seek(0)
    restored = build(algorithm_name, dataset, seed=1)  # different initial weights
    restored.load_training_state(torch.load(buffer, weights_only=True))
    # Same state: the next update gives the same values and the same parameters.
    torch.manual_seed(5)
    next_trained = trained.update(minibatches(dataset, BATCH))
    torch.manual_seed(5)
    next_restored = restored.update(minibatches(dataset, BATCH))
    assert next_trained == next_restored
    for (name, a), (_, b) in zip(trained.state_dict().items(), restored.state_dict().items()):
        assert torch.equal(a, b), name


def test_same_seed_same_result(case):
    algorithm_name, dataset = case

    def run():
        algorithm = build(algorithm_name, dataset, seed=3)
        values = [algorithm.update(minibatches(dataset, step * BATCH)) for step in range(2)]
        return values, algorithm.predict(dataset.datasets[0].tensors[0][:4])

    (values_a, logits_a), (values_b, logits_b) = run(), run()
    assert values_a == values_b and torch.equal(logits_a, logits_b)
