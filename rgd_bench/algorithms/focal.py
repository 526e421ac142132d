"""Focal loss (Lin et al., "Focal loss for dense object detection", ICCV 2017), as
SubpopBench's ``Focal``: each example's cross-entropy ``l`` becomes ``(1 - exp(-l))^gamma * l``
(``exp(-l)`` is the probability of the true class), averaged over the pooled minibatch.
``gamma``: SubpopBench's name, default (1) and search range (``0.5 * 10^U(0, 1)``)."""
from __future__ import annotations

import torch

from rgd_bench.algorithms._weighted_loss import WeightedLossERM
from rgd_bench.hparams import HParam
from rgd_bench.registry import ALGORITHMS
from rgd_bench.values import NON_NEGATIVE


def focal_losses(losses: torch.Tensor, gamma: float) -> torch.Tensor:
    return (1.0 - torch.exp(-losses)) ** gamma * losses


@ALGORITHMS.register()
class Focal(WeightedLossERM):
    HPARAMS = {
        "gamma": HParam(1.0, lambda r: 0.5 * 10 ** r.uniform(0, 1), NON_NEGATIVE,
                        doc="gamma: 0 is ERM; larger down-weights well-classified examples more"),
    }

    def objective(self, losses, groups):
        objective = focal_losses(losses, self.hparams["gamma"]).mean()
        return objective, {"objective": objective.item()}
