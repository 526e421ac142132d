"""Tabular classification sets that scikit-learn ships (no download): a training set and an
i.i.d. test set, for the papers' tabular claims.

Each is split once (seed 0, stratified) into "train" (70%) and "test" (30%); features are
standardised with the training set's mean and deviation.  A sweep tests on environment 1
only (``TEST_ENVS``); in/out splits and initialisations follow ``trial_seed`` as usual.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from rgd_bench.datasets.base import MultipleDomainDataset
from rgd_bench.networks.hparams import mlp_space
from rgd_bench.registry import DATASETS


class SklearnTabular(MultipleDomainDataset):
    ENVIRONMENTS = ("train", "test")
    TEST_ENVS = (1,)
    N_STEPS = 1001
    CHECKPOINT_FREQ = 100
    HPARAMS = mlp_space()
    TEST_FRACTION = 0.3
    LOADER = ""  # the sklearn.datasets function

    def __init__(self, root, test_envs, hparams):
        super().__init__(root, test_envs, hparams)
        import sklearn.datasets
        from sklearn.model_selection import train_test_split

        x, y = getattr(sklearn.datasets, self.LOADER)(return_X_y=True)
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=self.TEST_FRACTION, random_state=0, stratify=y)
        mean, std = x_train.mean(0), x_train.std(0)
        std[std == 0] = 1.0  # constant features (the digits' blank corners) stay 0
        for features, labels in ((x_train, y_train), (x_test, y_test)):
            standard = torch.as_tensor((features - mean) / std, dtype=torch.float32)
            self.datasets.append(TensorDataset(standard, torch.as_tensor(labels, dtype=torch.long)))
        self.input_shape = (x.shape[1],)
        self.num_classes = int(np.max(y)) + 1


@DATASETS.register()
class BreastCancer(SklearnTabular):
    """Wisconsin diagnostic breast cancer: 569 examples, 30 features, 2 classes."""

    INPUT_SHAPE = (30,)
    LOADER = "load_breast_cancer"


@DATASETS.register()
class Wine(SklearnTabular):
    """Wine recognition: 178 examples, 13 features, 3 classes."""

    INPUT_SHAPE = (13,)
    LOADER = "load_wine"


@DATASETS.register()
class Digits8x8(SklearnTabular):
    """Optical digits as 64 pixel features: 1,797 examples, 10 classes."""

    INPUT_SHAPE = (64,)
    LOADER = "load_digits"
