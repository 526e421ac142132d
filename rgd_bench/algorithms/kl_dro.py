"""KL-DRO, exact: the KL-penalised worst case over the minibatch, whose weights are the
normalised exponential ``p = softmax(loss / T)`` (computed without gradient).  The step
minimises ``sum_i p_i * loss_i``, whose gradient is that of the dual objective
``T * log(mean(exp(loss / T)))``, recorded as ``objective``.

RGD (``rgd.py``) approximates this step: its weights ``exp(min(loss, tau) / T)`` are clipped at
``tau`` and not normalised.  KL-DRO next to RGD isolates what the clipping and the missing
normaliser do.  The temperature's default is RGD's (1); its search range is RGD's for tau.
"""
from __future__ import annotations

import math

import torch

from rgd_bench.algorithms._weighted_loss import WeightedLossERM
from rgd_bench.hparams import HParam
from rgd_bench.registry import ALGORITHMS
from rgd_bench.values import POSITIVE


def kl_weights(losses: torch.Tensor, temperature: float) -> torch.Tensor:
    """``softmax(loss / T)`` on detached losses (sums to 1)."""
    return torch.softmax(losses.detach() / temperature, dim=0)


@ALGORITHMS.register()
class KLDRO(WeightedLossERM):
    HPARAMS = {
        "kl_temperature": HParam(1.0, lambda r: 10 ** r.uniform(-1, 1), POSITIVE,
                                 doc="T: the larger, the closer to ERM"),
    }

    def objective(self, losses, groups):
        temperature = self.hparams["kl_temperature"]
        weights = kl_weights(losses, temperature)
        with torch.no_grad():
            dual = temperature * (torch.logsumexp(losses / temperature, dim=0) - math.log(len(losses)))
        return torch.dot(weights, losses), {"objective": dual.item(), "max_weight": weights.max().item()}
