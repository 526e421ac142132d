"""Datasets of the subpopulation protocol (``rgd_bench.engine.protocols.subpopulation``):
fixed train, val and test splits whose examples carry a label and an attribute.

A group is a (label, attribute) pair, numbered ``y * num_attributes + a`` as SubpopBench numbers
them.  Each split is a ``Split``: its examples (a dataset of ``(x, y)`` items, or tensors held in
memory) and every example's label and attribute.  A dataset without attributes (class
imbalance) has one attribute value, so its groups are its classes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset

from rgd_bench.datasets.base import MultipleDomainDataset

SPLITS = ("train", "val", "test")


@dataclass
class Split:
    """One split: ``data`` gives ``(x, y)`` items; ``y`` and ``a`` every example's label and
    attribute; ``tensors`` the (x, y) of an in-memory split (indexed, never read item by item)."""

    data: Dataset
    y: torch.Tensor
    a: torch.Tensor

    @property
    def tensors(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if isinstance(self.data, TensorDataset):
            return self.data.tensors[0], self.data.tensors[1]
        return None

    @classmethod
    def in_memory(cls, x: torch.Tensor, y: torch.Tensor, a: torch.Tensor) -> "Split":
        return cls(TensorDataset(x, y), y, a)


class SubpopulationDataset(MultipleDomainDataset):
    """Subclasses set ``ATTRIBUTE`` (what the attribute is), ``ATTRIBUTE_VALUES``
    and ``CLASS_NAMES`` (names, in order), ``INPUT_SHAPE``, the steps, and fill ``self.splits``."""

    PROTOCOL = "subpopulation"
    ENVIRONMENTS = ()  # no environments: the splits are fixed
    ATTRIBUTE: str | None = None  # None: the examples have none (class imbalance)
    ATTRIBUTE_VALUES: tuple[str, ...] = ("-",)
    CLASS_NAMES: tuple[str, ...] = ()

    splits: dict[str, Split]

    def __init__(self, root: str | None, test_envs, hparams: dict[str, Any]):
        super().__init__(root, test_envs, hparams)
        self.input_shape = self.INPUT_SHAPE
        self.class_names, self.attribute_values = self.CLASS_NAMES, self.ATTRIBUTE_VALUES

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_attributes(self) -> int:
        return len(self.attribute_values)

    def group_names(self) -> list[str]:
        """Each group's name, in group order: "y=<class>, a=<attribute value>"."""
        return [f"y={c}, a={v}" for c in self.class_names for v in self.attribute_values]


def deal(n: int, sizes: tuple[int, ...], seed: int) -> list[torch.Tensor]:
    """Positions 0..n-1 shuffled by ``seed`` and dealt into parts of ``sizes``."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return list(torch.split(order[:sum(sizes)], list(sizes)))
