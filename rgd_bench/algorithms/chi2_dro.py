"""chi^2-DRO (Levy, Carmon, Duchi and Sidford, "Large-scale methods for distributionally
robust optimization", NeurIPS 2020): the minibatch estimator of their ``RobustLoss`` with the
chi-square geometry, as their code (daniellevy/fast-dro, ``robust_losses.py``) computes it.

Each step finds the worst-case distribution ``p`` over the minibatch's ``m`` losses ``v``
(without gradient) and minimises ``sum_i p_i * v_i - lambda / (2m) * ||m p - 1||^2``
(the penalty is a constant for the gradient).  Two formulations (``chi2_formulation``):

* ``constrained`` (fast-dro's ``reg = 0``, ``size = rho``): the best ``p`` with
  ``chi^2(p, uniform) = 1/2 mean((m p - 1)^2) <= rho``.  ``p(eta) = relu(v - eta) / sum``,
  its dual variable ``eta`` found by bisection on ``1/2 mean((m p - 1)^2) - rho``.
* ``penalized`` (``size = inf``, ``reg = lambda``): ``p(eta) = relu(v - eta) / (lambda m)``,
  ``eta`` found by bisection on ``1 - sum(p)``.

As in the reference: losses within a relative ``1e-5`` of each other give the uniform ``p``;
a constrained minibatch too small for the set (``m <= 1 + 2 rho``) puts all the mass on its
largest losses; the bisection widens its bracket until it holds the root, stops at
``|target| <= 1e-4`` or after 1000 halvings, and computes in the losses' dtype.

One departure, where the reference's step is NaN: with losses barely more spread than that
(a model near the uniform prediction), the constrained root can lie within a float of the largest
loss; the halving then lands on it, ``relu(v - eta)`` is 0 everywhere and ``p`` is 0 / 0.  Here
``p`` is then its limit, the mass on the largest losses (the sweep of ``sweeps/subpop.toml`` met
this in 3 of its 84 chi^2 runs, which diverged before).

fast-dro fixes ``rho = 1`` (constrained) or ``lambda = 0.05`` (penalised) in its MNIST
configurations and sweeps neither: those are the defaults here; the random search (ours)
draws the formulation and ``rho`` in ``[0.1, 10]``, ``lambda`` in ``[0.01, 1]`` log-uniformly.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from rgd_bench.algorithms._weighted_loss import WeightedLossERM
from rgd_bench.hparams import HParam
from rgd_bench.registry import ALGORITHMS
from rgd_bench.values import POSITIVE

UNIFORM_BELOW = 1e-5    # relative spread of the losses under which p is uniform
TOLERANCE = 1e-4        # |target| at which the bisection stops (RobustLoss's default tol)
MAX_HALVINGS = 1000     # RobustLoss's default max_iter


def bisection(low: torch.Tensor, high: torch.Tensor, target: Callable[[torch.Tensor], torch.Tensor],
              tolerance: float = TOLERANCE, max_halvings: int = MAX_HALVINGS) -> torch.Tensor:
    """A root of the increasing ``target`` (fast-dro's ``bisection``): first the bracket
    ``[low, high]`` is moved outward, doubling its length, until it holds a sign change."""
    at_low, at_high = target(low), target(high)
    while at_low > 0 or at_high < 0:
        length = high - low
        if at_low > 0:
            low, high = low - 2 * length, low
        if at_high < 0:
            low, high = high, high + 2 * length
        at_low, at_high = target(low), target(high)
    for _ in range(max_halvings):
        middle = 0.5 * (low + high)
        value = target(middle)
        if torch.abs(value) <= tolerance:
            return middle
        if value > 0:
            high = middle
        elif value < 0:
            low = middle
    return 0.5 * (low + high)


def chi2_weights(losses: torch.Tensor, formulation: str, rho: float, lam: float) -> torch.Tensor:
    """The worst-case distribution over ``losses`` (detached) for the chi^2 set."""
    v, m = losses.detach(), len(losses)
    top = v.max()
    if top - v.min() <= UNIFORM_BELOW * torch.abs(top):
        return torch.full_like(v, 1.0 / m)
    if formulation == "penalized":
        def weights(eta):
            return torch.relu(v - eta) / (lam * m)

        def target(eta):
            return 1.0 - weights(eta).sum()

        low = torch.minimum(v.sum() - lam * m, v.min())
    else:
        if m <= 1 + 2 * rho:
            tops = (v == top).to(v.dtype)
            return tops / tops.sum()

        def weights(eta):
            shifted = torch.relu(v - eta)
            return shifted / shifted.sum()

        def target(eta):
            return 0.5 * torch.mean((m * weights(eta) - 1.0) ** 2) - rho

        low = -(1.0 / (math.sqrt(2 * rho + 1) - 1)) * top
    found = weights(bisection(low, top, target))
    if formulation == "constrained" and not bool(torch.isfinite(found).all()):
        # The root lay within a float of the largest loss and the halving reached it: relu(v - eta)
        # is 0 everywhere, 0 / 0.  Its limit from below is the mass on the largest losses.
        tops = (v == top).to(v.dtype)
        return tops / tops.sum()
    return found


def chi2_penalty(weights: torch.Tensor, lam: float) -> torch.Tensor:
    """``lambda / (2m) * ||m p - 1||^2``, the penalty subtracted from the objective."""
    m = len(weights)
    return (0.5 / m) * lam * torch.sum((m * weights - 1.0) ** 2)


@ALGORITHMS.register()
class Chi2DRO(WeightedLossERM):
    HPARAMS = {
        "chi2_formulation": HParam("constrained", lambda r: str(r.choice(["constrained", "penalized"])),
                                   choices=("constrained", "penalized"),
                                   doc="constrained: chi^2(p) <= chi2_rho; penalized: minus chi2_lambda * chi^2(p)"),
        "chi2_rho": HParam(1.0, lambda r: 10 ** r.uniform(-1, 1), POSITIVE,
                           doc="rho, the radius of the constrained set"),
        "chi2_lambda": HParam(0.05, lambda r: 10 ** r.uniform(-2, 0), POSITIVE,
                              doc="lambda, the strength of the penalty"),
    }

    def objective(self, losses, groups):
        formulation = self.hparams["chi2_formulation"]
        lam = self.hparams["chi2_lambda"] if formulation == "penalized" else 0.0
        with torch.no_grad():
            weights = chi2_weights(losses, formulation, self.hparams["chi2_rho"], lam)
            penalty = chi2_penalty(weights, lam)
        objective = torch.dot(weights, losses) - penalty
        return objective, {"objective": objective.item(), "max_weight": weights.max().item()}
