"""Minibatches as a pure function of (seed, environment, step)."""
from __future__ import annotations

import torch
from torch.utils.data import Dataset, TensorDataset

from rgd_bench.engine.batches import TrainBatches, eval_batches, in_memory_tensors, step_indices
from rgd_bench.datasets.base import balanced_class_weights, split_dataset


def test_step_indices_depend_only_on_seed_and_step():
    a = step_indices(100, 16, seed=7, step=3)
    assert torch.equal(a, step_indices(100, 16, seed=7, step=3))
    assert not torch.equal(a, step_indices(100, 16, seed=7, step=4))
    assert not torch.equal(a, step_indices(100, 16, seed=8, step=3))
    assert a.min() >= 0 and a.max() < 100


def test_weighted_indices_follow_the_weights():
    weights = torch.tensor([0.0, 1.0, 0.0, 3.0])
    drawn = torch.cat([step_indices(4, 100, 0, s, weights) for s in range(20)])
    counts = torch.bincount(drawn, minlength=4)
    assert counts[0] == 0 and counts[2] == 0
    assert 0.2 < counts[1] / counts.sum() < 0.3  # 1/4 expected


def test_balanced_class_weights_equalise_classes():
    data = TensorDataset(torch.zeros(4, 1), torch.tensor([0, 0, 0, 1]))
    weights = balanced_class_weights(data)
    assert torch.allclose(weights, torch.tensor([1 / 6, 1 / 6, 1 / 6, 1 / 2]))


def test_resuming_the_stream_mid_way_gives_the_same_batches():
    data = TensorDataset(torch.arange(50).float().unsqueeze(1), torch.arange(50))
    _, split = split_dataset(data, 10, seed=1)
    tensors = in_memory_tensors(split)
    full = TrainBatches(split, tensors, batch_size=8, seed=3, start_step=0)
    batches = [next(full) for _ in range(6)]
    resumed = TrainBatches(split, tensors, batch_size=8, seed=3, start_step=4)
    for expected in batches[4:]:
        got = next(resumed)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    # The split's own keys are used: every label comes from the 40 in-split items.
    assert set(torch.cat([b[1] for b in batches]).tolist()) <= set(split.keys)


class RandomItems(Dataset):
    """Each item is index + torch noise: stands in for a randomly augmented image."""

    def __len__(self):
        return 30

    def __getitem__(self, index):
        return torch.tensor([float(index)]) + torch.rand(1), index


def test_item_dataset_stream_is_identical_with_workers_and_on_resume():
    def stream(workers, start, n):
        batches = TrainBatches(RandomItems(), None, batch_size=4, seed=5, start_step=start, num_workers=workers)
        return [next(batches) for _ in range(n)]

    plain = stream(0, 0, 5)
    with_workers = stream(2, 0, 5)
    resumed = stream(2, 3, 2)
    for a, b in zip(plain, with_workers):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for a, b in zip(plain[3:], resumed):
        assert torch.equal(a[0], b[0])
    # The noise really is random across positions (seeded per item, not constant).
    assert len(set(plain[0][0].flatten().tolist())) == 4


def test_eval_batches_cover_the_split_in_order():
    data = TensorDataset(torch.arange(10).float().unsqueeze(1), torch.arange(10))
    _, split = split_dataset(data, 3, seed=0)
    in_memory = list(eval_batches(split, in_memory_tensors(split), 4, seed=0, step=0))
    assert [len(b[1]) for b in in_memory] == [4, 3]
    assert torch.cat([b[1] for b in in_memory]).tolist() == split.keys
    item_by_item = list(eval_batches(data, None, 4, seed=0, step=0))
    assert torch.cat([b[1] for b in item_by_item]).tolist() == list(range(10))


class _PicksIds:
    """Stands in for an algorithm that chooses its own examples."""

    NEEDS_EXAMPLE_IDS = True
    SAMPLES_EXAMPLES = True

    def __init__(self, ids):
        self.ids = torch.tensor(ids)

    def sample_examples(self, step, count, generator):
        assert count == 4  # batch_size 2 x 2 training environments
        return self.ids


def _two_envs():
    env_a = TensorDataset(torch.arange(0, 5).float().unsqueeze(1), torch.arange(0, 5))
    env_b = TensorDataset(torch.arange(100, 103).float().unsqueeze(1), torch.arange(100, 103))
    return env_a, env_b


def test_sampled_ids_travel_with_the_examples_they_name():
    from rgd_bench.engine.batches import SampledBatches
    from rgd_bench.engine.protocols.domainbed_data import _EnvironmentPool, _Split

    env_a, env_b = _two_envs()
    for with_tensors in (True, False):  # in memory, and item by item
        splits = [_Split(name, env, in_memory_tensors(env) if with_tensors else None, None)
                  for name, env in (("a", env_a), ("b", env_b))]
        stream = SampledBatches(_PicksIds([6, 1, 5, 1]), 4, seed=0, start_step=0,
                                fetch=_EnvironmentPool(splits, [0, 0]).fetch)
        (xa, ya, ida), (xb, yb, idb) = next(stream)
        # ids 0..4 are env a, 5..7 env b; grouped by environment, repeats kept
        assert ida.tolist() == [1, 1] and ya.tolist() == [1, 1] and xa.flatten().tolist() == [1.0, 1.0]
        assert idb.tolist() == [6, 5] and yb.tolist() == [101, 100]


def test_uniform_stream_numbers_ids_across_environments():
    from rgd_bench.engine.batches import EnvironmentBatches

    env_a, env_b = _two_envs()
    splits = [(env, in_memory_tensors(env), None, 9) for env in (env_a, env_b)]
    for _ in range(5):
        (xa, ya, ida), (xb, yb, idb) = next(EnvironmentBatches(splits, 3, 0, 0))
        assert torch.equal(ida, ya) and torch.equal(idb, yb - 100 + 5)
