"""Empirical Risk Minimization, as DomainBed's ERM."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from rgd_bench.algorithms.base import OPTIMIZER_HPARAMS, Algorithm, build_network, make_optimizer, pooled
from rgd_bench.registry import ALGORITHMS


@ALGORITHMS.register()
class ERM(Algorithm):
    """Mean cross-entropy over the pooled minibatches of all training environments.

    Adam by default, as DomainBed's ERM; ``optimizer = "sgd"`` (with ``momentum``) for
    comparisons under a paper's SGD setup.  Subclasses inherit the choice."""

    HPARAMS = OPTIMIZER_HPARAMS

    # A class attribute so that a subclass can build other networks (the DomainBed
    # integration builds DomainBed's own) without touching the algorithm.
    build_network = staticmethod(build_network)

    def __init__(self, input_shape, num_classes, num_domains, hparams):
        super().__init__(input_shape, num_classes, num_domains, hparams)
        self.featurizer, self.classifier = self.build_network(input_shape, num_classes, hparams)
        self.network = nn.Sequential(self.featurizer, self.classifier)
        self.optimizer = make_optimizer(self.network.parameters(), hparams)

    def update(self, minibatches, unlabeled=None):
        all_x, all_y = pooled(minibatches)[:2]
        loss = F.cross_entropy(self.predict(all_x), all_y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item()}

    def predict(self, x):
        return self.network(x)
