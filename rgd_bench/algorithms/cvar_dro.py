"""CVaR-DRO (Levy, Carmon, Duchi and Sidford, "Large-scale methods for distributionally
robust optimization", NeurIPS 2020), the minibatch estimator of their ``RobustLoss`` with the
CVaR geometry and no regulariser, as SubpopBench's ``CVaRDRO`` runs it.

The step minimises the CVaR at level ``alpha`` of the minibatch's losses: the mean of the
worst ``alpha``-fraction.  With ``m`` examples, the ``floor(alpha * m)`` largest losses get
weight ``1 / (alpha * m)`` each and the next one the mass left over,
``1 - floor(alpha * m) / (alpha * m)`` (the fractional example); all others get 0.  The
weights are computed without gradient and the objective is ``sum_i p_i * loss_i``.
``alpha = 1`` is ERM.  Ties are broken by position (a stable sort), where the reference
leaves the order to ``argsort``.
"""
from __future__ import annotations

import torch

from rgd_bench.algorithms._weighted_loss import WeightedLossERM
from rgd_bench.hparams import HParam
from rgd_bench.registry import ALGORITHMS
from rgd_bench.values import Range


def cvar_weights(losses: torch.Tensor, alpha: float) -> torch.Tensor:
    """The worst-case distribution of the CVaR at level ``alpha`` over ``losses`` (sums to 1)."""
    m = len(losses)
    scaled = alpha * m
    cutoff = int(scaled)
    weights = torch.zeros_like(losses, dtype=losses.dtype)
    order = torch.argsort(losses.detach(), descending=True, stable=True)
    weights[order[:cutoff]] = 1.0 / scaled
    if cutoff < m:
        weights[order[cutoff]] = 1.0 - cutoff / scaled
    return weights


@ALGORITHMS.register()
class CVaRDRO(WeightedLossERM):
    HPARAMS = {
        # SubpopBench's name, default and search range.
        "joint_dro_alpha": HParam(0.1, lambda r: 10 ** r.uniform(-2, 0), Range(0, 1, low_open=True),
                                  doc="alpha: the share of the minibatch, the worst, that the step averages"),
    }

    def objective(self, losses, groups):
        weights = cvar_weights(losses.detach(), self.hparams["joint_dro_alpha"])
        objective = torch.dot(weights, losses)
        return objective, {"objective": objective.item()}


__all__ = ["CVaRDRO", "cvar_weights"]
