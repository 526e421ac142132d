"""Group DRO (Sagawa et al., 2020, Algorithm 1), as DomainBed's GroupDRO."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from rgd_bench.algorithms.erm import ERM
from rgd_bench.hparams import HParam
from rgd_bench.registry import ALGORITHMS


@ALGORITHMS.register()
class GroupDRO(ERM):
    """One group per training environment.  Each step:
    ``q_m <- q_m * exp(eta * loss_m)``, ``q <- q / sum(q)``, objective ``sum_m q_m * loss_m``.
    """

    HPARAMS = {"groupdro_eta": HParam(1e-2, lambda r: 10 ** r.uniform(-3, -1), positive=True)}

    def __init__(self, input_shape, num_classes, num_domains, hparams):
        super().__init__(input_shape, num_classes, num_domains, hparams)
        # DomainBed starts q at ones on the first update; allocating it here gives the
        # same arithmetic and a fixed shape, so q round-trips through checkpoints.
        self.register_buffer("q", torch.ones(num_domains))

    def update(self, minibatches, unlabeled=None):
        if len(minibatches) != len(self.q):
            raise ValueError(f"GroupDRO was built for {len(self.q)} training environments, "
                             f"got {len(minibatches)} minibatches.")
        losses = torch.zeros(len(minibatches), device=self.q.device)
        for m, (x, y) in enumerate(minibatches):
            losses[m] = F.cross_entropy(self.predict(x), y)
            self.q[m] *= (self.hparams["groupdro_eta"] * losses[m].data).exp()
        self.q /= self.q.sum()
        loss = torch.dot(losses, self.q)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item()}
