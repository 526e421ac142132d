"""Every registered algorithm passes these checks on every embedded dataset, with no
extra code: a new algorithm is covered the moment it is registered."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from rgd_bench.errors import UsageError
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


def training_envs(dataset):
    return dataset.datasets[1:]  # env 0 is the test env


def minibatches(algorithm, dataset, offset: int = 0):
    """One small minibatch from each training environment, with example ids (numbered
    environment after environment) for the algorithms that ask for them."""
    batches, first_id = [], 0
    for env in training_envs(dataset):
        ids = torch.arange(offset, offset + BATCH)
        batch = (env.tensors[0][ids], env.tensors[1][ids], ids + first_id)
        batches.append(batch if algorithm.NEEDS_EXAMPLE_IDS else batch[:2])
        first_id += len(env)
    return batches


def seed_all(seed: int) -> None:
    """Torch's and numpy's global generators (some DomainBed algorithms draw from numpy's)."""
    torch.manual_seed(seed)
    np.random.seed(seed)


def build(algorithm_name: str, dataset, seed: int = 0):
    seed_all(seed)
    cls = ALGORITHMS.get(algorithm_name)
    hparams = resolve_hparams(cls, type(dataset), 0, 0, {"batch_size": BATCH})
    algorithm = cls(dataset.input_shape, dataset.num_classes, len(dataset) - 1, hparams)
    algorithm.bind_training_examples([len(env) for env in training_envs(dataset)])
    algorithm.bind_total_steps(2)  # the tests take 2 steps: JTT's stages switch between them
    return algorithm


def usable(algorithm_name: str, dataset_name: str) -> bool:
    """False for a pair the algorithm refuses with a one-line error (tested where it is
    refused), e.g. DomainBed's ARM on non-image inputs."""
    try:
        resolve_hparams(ALGORITHMS.get(algorithm_name), DATASETS.get(dataset_name), 0, 0, {})
    except UsageError:
        return False
    return True


CASES = [(a, d) for a in ALGORITHMS.names() for d in EMBEDDED_DATASETS if usable(a, d)]


@pytest.fixture(params=CASES, ids=[f"{a}-{d}" for a, d in CASES])
def case(request):
    algorithm_name, dataset_name = request.param
    return algorithm_name, embedded(dataset_name)


def test_update_returns_finite_floats(case):
    algorithm_name, dataset = case
    algorithm = build(algorithm_name, dataset)
    for step in range(2):
        values = algorithm.update(minibatches(algorithm, dataset, step * BATCH))
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
    trained.update(minibatches(trained, dataset))
    buffer = io.BytesIO()
    torch.save(trained.training_state(), buffer)
    buffer.seek(0)
    restored = build(algorithm_name, dataset, seed=1)  # different initial weights
    restored.load_training_state(torch.load(buffer, weights_only=True))
    # Same state: the next update gives the same values and the same parameters.
    seed_all(5)
    next_trained = trained.update(minibatches(trained, dataset, BATCH))
    seed_all(5)
    next_restored = restored.update(minibatches(restored, dataset, BATCH))
    assert next_trained == next_restored
    for (name, a), (_, b) in zip(trained.state_dict().items(), restored.state_dict().items()):
        assert torch.equal(a, b), name


def test_same_seed_same_result(case):
    algorithm_name, dataset = case

    def run():
        algorithm = build(algorithm_name, dataset, seed=3)
        values = [algorithm.update(minibatches(algorithm, dataset, step * BATCH)) for step in range(2)]
        return values, algorithm.predict(dataset.datasets[0].tensors[0][:4])

    (values_a, logits_a), (values_b, logits_b) = run(), run()
    assert values_a == values_b and torch.equal(logits_a, logits_b)


SAMPLING_CASES = [c for c in CASES if ALGORITHMS.get(c[0]).SAMPLES_EXAMPLES]


@pytest.mark.parametrize("algorithm_name,dataset_name", SAMPLING_CASES,
                         ids=[f"{a}-{d}" for a, d in SAMPLING_CASES])
def test_sampled_ids_are_valid_and_survive_a_state_round_trip(algorithm_name, dataset_name):
    dataset = embedded(dataset_name)
    n = sum(len(env) for env in training_envs(dataset))
    trained = build(algorithm_name, dataset)
    trained.update(minibatches(trained, dataset))
    restored = build(algorithm_name, dataset, seed=1)
    restored.load_training_state(trained.training_state())

    def draw(algorithm):
        return algorithm.sample_examples(7, 64, torch.Generator().manual_seed(3))

    ids = draw(trained)
    assert ids.dtype == torch.long and ids.shape == (64,) and 0 <= ids.min() and ids.max() < n
    assert torch.equal(ids, draw(restored))
