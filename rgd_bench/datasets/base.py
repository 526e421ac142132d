"""Multi-environment datasets and DomainBed's in/out splits."""
from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from rgd_bench.hparams import HParam


class MultipleDomainDataset:
    """A list of environments (``self.datasets``), as DomainBed's class of the same name.

    Subclasses set ``ENVIRONMENTS``, ``input_shape``, ``num_classes`` and fill
    ``self.datasets``.  ``HPARAMS`` declares dataset-specific hyperparameters and
    ``HPARAM_PROFILE`` picks the shared defaults (see ``rgd_bench.hparams.shared_space``).
    ``NEEDS_DATA_DIR`` marks datasets that read files from ``--data_dir``.
    """

    N_STEPS = 5001
    CHECKPOINT_FREQ = 100
    N_WORKERS = 0
    ENVIRONMENTS: Sequence[str] = ()
    # Set where environments are not domains but one training set and fixed test sets:
    # a sweep then runs these test environments only.
    TEST_ENVS: tuple[int, ...] | None = None
    INPUT_SHAPE: tuple = ()
    HPARAM_PROFILE = "small"
    HPARAMS: dict[str, HParam] = {}
    NEEDS_DATA_DIR = False

    datasets: list[Dataset]
    input_shape: tuple
    num_classes: int

    def __init__(self, root: str | None, test_envs: Sequence[int], hparams: dict[str, Any]):
        self.datasets = []

    @classmethod
    def hparam_space(cls) -> dict[str, HParam]:
        space: dict[str, HParam] = {}
        for klass in reversed(cls.__mro__):
            space.update(klass.__dict__.get("HPARAMS", {}))
        return space

    def __getitem__(self, index: int) -> Dataset:
        return self.datasets[index]

    def __len__(self) -> int:
        return len(self.datasets)


class SplitDataset(Dataset):
    """The subset ``keys`` of ``underlying`` (DomainBed's ``_SplitDataset``)."""

    def __init__(self, underlying: Dataset, keys: list[int]):
        self.underlying = underlying
        self.keys = keys

    def __getitem__(self, key: int):
        return self.underlying[self.keys[key]]

    def __len__(self) -> int:
        return len(self.keys)


def split_dataset(dataset: Dataset, n: int, seed: int = 0) -> tuple[SplitDataset, SplitDataset]:
    """Random split into (n items, the rest), shuffled by ``RandomState(seed)`` as DomainBed."""
    if not 0 <= n <= len(dataset):
        raise ValueError(f"Cannot take {n} items out of a dataset of {len(dataset)}.")
    keys = list(range(len(dataset)))
    np.random.RandomState(seed).shuffle(keys)
    return SplitDataset(dataset, keys[:n]), SplitDataset(dataset, keys[n:])


def labels_of(dataset: Dataset) -> torch.Tensor:
    """All labels of a dataset, read without loading inputs where the storage allows."""
    if isinstance(dataset, SplitDataset):
        return labels_of(dataset.underlying)[torch.as_tensor(dataset.keys, dtype=torch.long)]
    tensors = getattr(dataset, "tensors", None)
    if tensors is not None:
        return tensors[1]
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        return torch.as_tensor(targets)
    return torch.as_tensor([int(dataset[i][1]) for i in range(len(dataset))])


def balanced_class_weights(dataset: Dataset) -> torch.Tensor:
    """Per-example weights making classes equally likely (DomainBed's
    ``make_weights_for_balanced_classes``)."""
    labels = labels_of(dataset).tolist()
    counts = Counter(labels)
    per_class = {y: 1 / (count * len(counts)) for y, count in counts.items()}
    return torch.tensor([per_class[y] for y in labels], dtype=torch.float32)
