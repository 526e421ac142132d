"""Minibatches that are a pure function of (seed, environment, step).

DomainBed's infinite loaders keep their position inside a DataLoader, which cannot be
saved, and loader workers prefetch ahead of the training step.  Here the indices of
step ``s`` are drawn from a generator seeded by ``seed_hash(seed, env, s)``, and random
augmentation of each item is seeded by its (step, position): resuming at any step gives
exactly the batches of an uninterrupted run, with or without workers.

In-memory ``TensorDataset`` environments are gathered once and indexed directly; other
datasets (image folders) go through a ``DataLoader`` with workers.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from rgd_bench.datasets.base import SplitDataset
from rgd_bench.hparams import seed_hash


def in_memory_tensors(split: Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(x, y) of a split of a TensorDataset, or None for datasets read item by item."""
    if isinstance(split, SplitDataset) and isinstance(split.underlying, TensorDataset):
        keys = torch.as_tensor(split.keys, dtype=torch.long)
        x, y = split.underlying.tensors[:2]
        return x[keys], y[keys]
    if isinstance(split, TensorDataset):
        return split.tensors[0], split.tensors[1]
    return None


def step_indices(n: int, batch_size: int, seed: int, step: int,
                 weights: torch.Tensor | None = None) -> torch.Tensor:
    """The indices of one step's minibatch: uniform with replacement (DomainBed's
    ``RandomSampler(replacement=True)``) or by ``weights`` for class balancing."""
    generator = torch.Generator().manual_seed(seed_hash(seed, step))
    if weights is None:
        return torch.randint(n, (batch_size,), generator=generator)
    return torch.multinomial(weights, batch_size, replacement=True, generator=generator)


def epoch_indices(n: int, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """The indices of one step's batch when every epoch is a fresh shuffle (WILDS's
    ``shuffle=True`` loader): step ``s`` takes positions ``s*b .. s*b+b-1`` of the
    concatenated permutations, epoch ``e``'s seeded by ``seed_hash(seed, "epoch", e)``."""
    positions = torch.arange(step * batch_size, (step + 1) * batch_size)
    epochs = positions // n
    indices = torch.empty(batch_size, dtype=torch.long)
    for epoch in epochs.unique().tolist():
        generator = torch.Generator().manual_seed(seed_hash(seed, "epoch", epoch))
        in_epoch = epochs == epoch
        indices[in_epoch] = torch.randperm(n, generator=generator)[positions[in_epoch] % n]
    return indices


class SeededItems(Dataset):
    """Wraps a dataset so each item's random transform is seeded by (seed, step, position)."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int, int]):
        step, position, index = key
        torch.manual_seed(seed_hash(self.seed, step, position))
        x, y = self.dataset[index][:2]
        return x, y, index


class _StepKeys:
    """Batch sampler: for each step from ``start``, the (step, position, index) keys."""

    def __init__(self, indices_of, start):
        self.indices_of, self.start = indices_of, start

    def __iter__(self):
        step = self.start
        while True:
            indices = self.indices_of(step).tolist()
            yield [(step, position, index) for position, index in enumerate(indices)]
            step += 1


class TrainBatches:
    """An endless stream of minibatches of one training environment, from ``start_step``.

    ``indices_of(step)`` chooses each step's indices; by default ``step_indices`` (with
    ``weights`` if given)."""

    def __init__(self, split: Dataset, tensors: tuple[torch.Tensor, torch.Tensor] | None,
                 batch_size: int, seed: int, start_step: int,
                 weights: torch.Tensor | None = None, num_workers: int = 0,
                 indices_of: Callable[[int], torch.Tensor] | None = None):
        n = len(split)
        self.indices_of = indices_of or (lambda step: step_indices(n, batch_size, seed, step, weights))
        self.step = start_step
        self.tensors = tensors
        self._loader_iter: Iterator | None = None
        if self.tensors is None:
            self._loader_iter = iter(DataLoader(
                SeededItems(split, seed),
                batch_sampler=_StepKeys(self.indices_of, start_step),
                num_workers=num_workers,
                persistent_workers=num_workers > 0,
            ))

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x, y, indices within the split) of the next step."""
        if self._loader_iter is not None:
            batch = tuple(next(self._loader_iter))
        else:
            indices = self.indices_of(self.step)
            batch = (self.tensors[0][indices], self.tensors[1][indices], indices)
        self.step += 1
        return batch

    def __iter__(self):
        return self


def eval_batches(split: Dataset, tensors: tuple[torch.Tensor, torch.Tensor] | None,
                 batch_size: int, seed: int, step: int,
                 num_workers: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The whole split in order, in chunks of ``batch_size`` (``tensors``: see
    ``in_memory_tensors``)."""
    if tensors is not None:
        x, y = tensors
        for start in range(0, len(x), batch_size):
            yield x[start:start + batch_size], y[start:start + batch_size]
        return
    keys = [(step, position, position) for position in range(len(split))]
    loader = DataLoader(SeededItems(split, seed), batch_size=batch_size, num_workers=num_workers,
                        sampler=keys)
    for x, y, _ in loader:
        yield x, y


class EnvironmentBatches:
    """DomainBed's batches: one uniform (or class-balanced) minibatch per training environment
    each step, as ``(x, y, ids)``, ids numbering the training examples environment after
    environment."""

    def __init__(self, splits, batch_size: int, start_step: int, num_workers: int):
        """``splits``: (data, tensors, weights, env_seed) of each training environment."""
        self.offsets = torch.tensor([0] + [len(data) for data, _, _, _ in splits]).cumsum(0)
        self.sources = [TrainBatches(data, tensors, batch_size, env_seed, start_step, weights, num_workers)
                        for data, tensors, weights, env_seed in splits]

    def __next__(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        return [(x, y, local + self.offsets[e]) for e, (x, y, local) in enumerate(map(next, self.sources))]


class SampledBatches:
    """Algorithm-driven sampling, for every protocol: at each step an algorithm with
    ``SAMPLES_EXAMPLES`` chooses ``n`` example ids itself, from a generator seeded by
    ``seed_hash(seed, "sample", step)``; ``fetch(ids, step)`` (the protocol's) gives their
    ``(x, y, ids)`` minibatches."""

    def __init__(self, algorithm, n: int, seed: int, start_step: int,
                 fetch: Callable[[torch.Tensor, int], list[tuple[torch.Tensor, ...]]]):
        self.algorithm, self.n, self.seed, self.step, self.fetch = algorithm, n, seed, start_step, fetch

    def __next__(self) -> list[tuple[torch.Tensor, ...]]:
        generator = torch.Generator().manual_seed(seed_hash(self.seed, "sample", self.step))
        ids = self.algorithm.sample_examples(self.step, self.n, generator)
        minibatches = self.fetch(ids.cpu(), self.step)
        self.step += 1
        return minibatches


class ForAlgorithm:
    """The minibatches of every step as ``algorithm`` takes them: ``(x, y, ids)`` with
    ``NEEDS_EXAMPLE_IDS`` (the ids travel with the very examples trained on), else ``(x, y)``."""

    def __init__(self, algorithm, batches):
        self.with_ids, self.batches = algorithm.NEEDS_EXAMPLE_IDS, batches

    def __next__(self) -> list[tuple[torch.Tensor, ...]]:
        minibatches = next(self.batches)
        return minibatches if self.with_ids else [(x, y) for x, y, _ in minibatches]

    def __iter__(self):
        return self
