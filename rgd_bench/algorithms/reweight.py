"""ReWeight: inverse-frequency re-weighting, as SubpopBench's ``ReWeight``.

Each example's loss is weighted by ``1 / n_g`` for its group ``g``, the weights normalised to
sum to the number of groups (an empty group weighs 0), and the step minimises the weighted
mean over the pooled minibatch.  The groups are the algorithm's training domains: under the
subpopulation protocol the label x attribute groups (``--train_attr yes``) or the classes
(``no``), under WILDS's its groups, under DomainBed's its training environments."""
from __future__ import annotations

import torch

from rgd_bench.algorithms._weighted_loss import WeightedLossERM
from rgd_bench.registry import ALGORITHMS


def inverse_frequency_weights(group_sizes: torch.Tensor) -> torch.Tensor:
    """``1 / n_g`` normalised to sum to the number of groups; 0 for an empty group."""
    sizes = group_sizes.double()
    inverse = torch.where(sizes > 0, 1.0 / sizes.clamp(min=1), torch.zeros_like(sizes))
    return (inverse / inverse.sum() * len(sizes)).float()


@ALGORITHMS.register()
class ReWeight(WeightedLossERM):
    def __init__(self, input_shape, num_classes, num_domains, hparams):
        super().__init__(input_shape, num_classes, num_domains, hparams)
        # Set by bind_training_examples; zeros until then (refused by update).
        self.register_buffer("group_weights", torch.zeros(num_domains))

    def bind_training_examples(self, env_sizes):
        sizes = torch.as_tensor(list(env_sizes))
        if len(sizes) != len(self.group_weights) or int(sizes.sum()) == 0:
            raise ValueError(f"ReWeight was built for {len(self.group_weights)} non-empty groups, "
                             f"got the group sizes {sizes.tolist()}.")
        self.group_weights = inverse_frequency_weights(sizes).to(self.group_weights.device)

    def objective(self, losses, groups):
        if not bool(self.group_weights.any()):
            raise ValueError("ReWeight needs its groups' sizes: call bind_training_examples(group_sizes) "
                             "before training (the engine does).")
        objective = (self.group_weights[groups] * losses).mean()
        return objective, {"objective": objective.item()}
