"""One training set whose batches reach the algorithm split by group: WILDS's protocol and the
subpopulation protocol.  Each step draws one batch of ``batch_size`` examples (a fresh shuffle
every epoch, or with replacement and weights ``1 / size of the example's group``), split into one
minibatch per group in group order (empty ones included), so an algorithm's "domains" are the
groups.  Example ids number the training examples group after group."""
from __future__ import annotations

import torch
from torch.utils.data import Dataset, default_collate

from rgd_bench.engine.batches import SampledBatches, SeededItems, TrainBatches, epoch_indices, step_indices
from rgd_bench.hparams import seed_hash


class GroupedPool:
    def __init__(self, train: Dataset, tensors: tuple[torch.Tensor, torch.Tensor] | None, labels: torch.Tensor,
                 groups: torch.Tensor, num_groups: int, batch_size: int, seed: int, uniform_over_groups: bool,
                 num_workers: int):
        """``tensors``: (x, y) of ``train`` where it is in memory (indexed, never read item by
        item); ``labels`` and ``groups``: each training example's; ``seed``: the run's."""
        self.train, self.tensors, self.labels = train, tensors, labels
        self.groups, self.num_groups = groups.long(), num_groups
        self.batch_size, self.num_workers = batch_size, num_workers
        self.seed, self.train_seed = seed, seed_hash(seed, "train")  # the run's; the batches'
        self.uniform_over_groups = uniform_over_groups
        self.group_sizes = torch.bincount(self.groups, minlength=num_groups)
        # Example ids run group after group; ``order[id]`` is the position in ``train``.
        self.order = torch.argsort(self.groups, stable=True)
        self.ids = torch.empty_like(self.order)
        self.ids[self.order] = torch.arange(len(self.order))
        self.group_weights = 1.0 / self.group_sizes.double()[self.groups]  # WILDS: 1 / group count

    def prepare(self, algorithm) -> None:
        algorithm.forward_groups_together = True
        algorithm.bind_training_examples(self.group_sizes.tolist())
        if algorithm.NEEDS_TRAINING_LABELS:  # ids run group after group (self.order)
            algorithm.bind_training_labels(list(torch.split(self.labels[self.order], self.group_sizes.tolist())))

    def stream(self, algorithm, start_step: int):
        """Each step's batch as ``(x, y, ids)`` minibatches, one per group in group order."""
        if algorithm.SAMPLES_EXAMPLES:
            return SampledBatches(algorithm, self.batch_size, self.seed, start_step,
                                  _Fetch(self, SeededItems(self.train, self.train_seed)))
        return _GroupedBatches(self, TrainBatches(self.train, self.tensors, self.batch_size, self.train_seed, start_step,
                                                  num_workers=self.num_workers, indices_of=self.indices_of))

    def indices_of(self, step: int) -> torch.Tensor:
        """Positions in ``train`` of one step's batch."""
        if self.uniform_over_groups:
            return step_indices(len(self.train), self.batch_size, self.train_seed, step, self.group_weights)
        return epoch_indices(len(self.train), self.batch_size, self.train_seed, step)

    def by_group(self, x, y, positions) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """One (x, y, example ids) minibatch per group, in group order."""
        groups, ids = self.groups[positions], self.ids[positions]
        return [(x[groups == g], y[groups == g], ids[groups == g]) for g in range(self.num_groups)]


class TrainsFromPool:
    """A protocol's data whose training batches all come from ``self.pool``."""

    pool: GroupedPool

    def prepare(self, algorithm) -> None:
        self.pool.prepare(algorithm)

    def stream(self, algorithm, start_step: int):
        return self.pool.stream(algorithm, start_step)


class _GroupedBatches:
    """Each step's batch as the protocol draws it, split by group."""

    def __init__(self, pool: GroupedPool, batches: TrainBatches):
        self.pool, self.batches = pool, batches

    def __next__(self):
        x, y, positions = next(self.batches)
        return self.pool.by_group(x, y, positions)


class _Fetch:
    """The examples an algorithm chose, by id (``GroupedPool.order``), split by group."""

    def __init__(self, pool: GroupedPool, items: SeededItems):
        self.pool, self.items = pool, items

    def __call__(self, ids: torch.Tensor, step: int):
        positions = self.pool.order[ids]
        if self.pool.tensors is not None:
            x, y = self.pool.tensors[0][positions], self.pool.tensors[1][positions]
        else:
            x, y, _ = default_collate([self.items[(step, k, int(p))] for k, p in enumerate(positions)])
        return self.pool.by_group(x, y, positions)
