"""Group DRO (Sagawa et al., 2020, Algorithm 1), as DomainBed's and WILDS's groupDRO."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from rgd_bench.algorithms.base import domain_labels, pooled
from rgd_bench.algorithms.erm import ERM
from rgd_bench.hparams import HParam
from rgd_bench.values import POSITIVE
from rgd_bench.registry import ALGORITHMS


@ALGORITHMS.register()
class GroupDRO(ERM):
    """One group per training environment (WILDS: per group).  Each step:
    ``q_m <- q_m * exp(eta * loss_m)``, ``q <- q / sum(q)``, objective ``sum_m q_m * loss_m``.

    A group with no example in the batch has loss 0, as in WILDS; a group with no
    training example at all starts (and stays) at q = 0, as WILDS initialises it.
    """

    UNIFORM_OVER_GROUPS = True

    HPARAMS = {"groupdro_eta": HParam(1e-2, lambda r: 10 ** r.uniform(-3, -1), POSITIVE)}

    def __init__(self, input_shape, num_classes, num_domains, hparams):
        super().__init__(input_shape, num_classes, num_domains, hparams)
        # DomainBed starts q at ones on the first update; allocating it here gives the
        # same arithmetic and a fixed shape, so q round-trips through checkpoints.
        self.register_buffer("q", torch.ones(num_domains))

    def bind_training_examples(self, env_sizes):
        self.q[torch.as_tensor(env_sizes, device=self.q.device) == 0] = 0.0

    def group_losses(self, minibatches) -> torch.Tensor:
        """The mean loss of each group's minibatch (0 for an empty one)."""
        if self.forward_groups_together:
            all_x, all_y = pooled(minibatches)[:2]
            per_example = F.cross_entropy(self.predict(all_x), all_y, reduction="none")
            groups = domain_labels(minibatches)
            sums = torch.zeros(len(minibatches), device=per_example.device).index_add(0, groups, per_example)
            counts = torch.bincount(groups, minlength=len(minibatches)).clamp(min=1)
            return sums / counts
        losses = torch.zeros(len(minibatches), device=self.q.device)
        for m, (x, y) in enumerate(minibatches):
            if len(y):
                losses[m] = F.cross_entropy(self.predict(x), y)
        return losses

    def update(self, minibatches, unlabeled=None):
        if len(minibatches) != len(self.q):
            raise ValueError(f"GroupDRO was built for {len(self.q)} training environments, "
                             f"got {len(minibatches)} minibatches.")
        losses = self.group_losses(minibatches)
        self.q *= (self.hparams["groupdro_eta"] * losses.data).exp()
        self.q /= self.q.sum()
        loss = torch.dot(losses, self.q)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item()}
