"""A tiny tabular dataset whose spurious feature flips across environments."""
from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from rgd_bench.datasets.base import MultipleDomainDataset
from rgd_bench.environments import ENVIRONMENTS as ENVIRONMENT_NAMES
from rgd_bench.networks.hparams import mlp_space
from rgd_bench.registry import DATASETS


@DATASETS.register()
class SpuriousTabular(MultipleDomainDataset):
    """Binary labels from 2 noisy core features (about 80% accurate in every
    environment) and 2 spurious features that agree with the label with probability
    90%, 80% and 10% in the three environments, plus 6 pure-noise features.

    A model that leans on the spurious features wins in the first two environments and
    loses in the third, as in ColoredMNIST, but trains in seconds on an MLP.  The data
    are the same for every run (fixed generator); splits follow ``trial_seed``.
    """

    ENVIRONMENTS = ENVIRONMENT_NAMES["SpuriousTabular"]
    INPUT_SHAPE = (10,)
    N_STEPS = 1001
    CHECKPOINT_FREQ = 100
    EXAMPLES_PER_ENV = 1000
    SPURIOUS_AGREEMENT = (0.9, 0.8, 0.1)
    DATA_SEED = 0
    HPARAMS = mlp_space()

    def __init__(self, root, test_envs, hparams):
        super().__init__(root, test_envs, hparams)
        generator = torch.Generator().manual_seed(self.DATA_SEED)
        for agreement in self.SPURIOUS_AGREEMENT:
            self.datasets.append(self.make_examples(self.EXAMPLES_PER_ENV, agreement, generator))
        self.input_shape = self.INPUT_SHAPE
        self.num_classes = 2

    @staticmethod
    def make_examples(n: int, agreement: float, generator: torch.Generator) -> TensorDataset:
        """``n`` examples whose spurious features agree with the label with probability ``agreement``."""
        y = torch.randint(0, 2, (n,), generator=generator)
        sign = (2 * y - 1).float().unsqueeze(1)
        core = 0.85 * sign + torch.randn(n, 2, generator=generator)
        agrees = torch.rand(n, generator=generator) < agreement
        spurious_sign = torch.where(agrees, sign.squeeze(1), -sign.squeeze(1)).unsqueeze(1)
        spurious = spurious_sign + 0.1 * torch.randn(n, 2, generator=generator)
        noise = torch.randn(n, 6, generator=generator)
        return TensorDataset(torch.cat([core, spurious, noise], dim=1), y)
