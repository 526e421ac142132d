"""Focal loss (Lin et al., "Focal loss for dense object detection", ICCV 2017), as
SubpopBench's ``Focal``: each example's cross-entropy ``l`` becomes ``(1 - exp(-l))^gamma * l``
(``exp(-l)`` is the probability of the true class), averaged over the pooled minibatch.
``gamma``: SubpopBench's name, default (1) and search range (``0.5 * 10^U(0, 1)``).

One numerical departure, the same function: ``1 - exp(-l)`` is held at the smallest positive
float where it would be 0 (an example classified perfectly in floating point).  There
SubpopBench's autograd multiplies the infinite slope of ``base^gamma`` (``gamma < 1``, a third of
its draws) by ``l = 0`` and the step is NaN; the true gradient is finite, and here it is."""
from __future__ import annotations

import torch

from rgd_bench.algorithms._weighted_loss import WeightedLossERM
from rgd_bench.hparams import HParam
from rgd_bench.registry import ALGORITHMS
from rgd_bench.values import NON_NEGATIVE


def focal_losses(losses: torch.Tensor, gamma: float) -> torch.Tensor:
    base = torch.clamp(1.0 - torch.exp(-losses), min=torch.finfo(losses.dtype).tiny)
    return base ** gamma * losses


@ALGORITHMS.register()
class Focal(WeightedLossERM):
    HPARAMS = {
        "gamma": HParam(1.0, lambda r: 0.5 * 10 ** r.uniform(0, 1), NON_NEGATIVE,
                        doc="gamma: 0 is ERM; larger down-weights well-classified examples more"),
    }

    def objective(self, losses, groups):
        objective = focal_losses(losses, self.hparams["gamma"]).mean()
        return objective, {"objective": objective.item()}
