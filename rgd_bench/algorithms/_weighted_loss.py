"""The shape shared by the algorithms that re-weight per-example losses: pool the training
minibatches, compute each example's cross-entropy, minimise an objective built from them."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from rgd_bench.algorithms.base import domain_labels, pooled
from rgd_bench.algorithms.erm import ERM


class WeightedLossERM(ERM):
    """ERM whose step minimises ``objective(losses, groups)`` instead of the mean loss.

    ``losses`` are the pooled per-example cross-entropies (with their graph); ``groups`` the
    position of each example's minibatch (its training domain, or group under the WILDS and
    subpopulation protocols).  ``objective`` returns the scalar to minimise and the values to
    record beside ``loss`` (the plain mean cross-entropy)."""

    def objective(self, losses: torch.Tensor, groups: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def update(self, minibatches, unlabeled=None):
        all_x, all_y = pooled(minibatches)[:2]
        losses = F.cross_entropy(self.predict(all_x), all_y, reduction="none")
        objective, values = self.objective(losses, domain_labels(minibatches))
        self.optimizer.zero_grad()
        objective.backward()
        self.optimizer.step()
        return {"loss": losses.mean().item(), **values}
