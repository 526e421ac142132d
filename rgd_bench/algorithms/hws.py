"""SGD with hardness weighted sampling (Fidon et al., "SGD with hardness weighted
sampling for distributionally robust deep learning").

A loss history ``L`` covers every training example, across environments, and starts at
a high value (``hws_init_loss``) so that examples never seen are drawn first.  Each
step draws the examples of the pooled batch i.i.d. from ``softmax(beta * L)`` (with
replacement), computes their losses, stores them back into ``L`` (detached) and takes
a mean-loss step.  The draw is a sum-tree walk, O(b log n), so a step costs the same
for 10^4 or 10^7 examples.

The example ids travel with the batch (``NEEDS_EXAMPLE_IDS``): ``L`` is updated for the
examples that were actually trained on, whatever a loader prefetched.

Optional staleness correction (``hws_staleness_correction``): the draw used ``L_old``
while the step sees the fresh loss ``l``, so each example's loss is weighted by the
importance ratio ``w_i = exp(beta * (l_i - L_old_i))`` clipped at ``hws_is_clip``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from rgd_bench.algorithms._softmax_sampler import SoftmaxSampler
from rgd_bench.algorithms.base import OPTIMIZER_HPARAMS, pooled
from rgd_bench.algorithms.erm import ERM
from rgd_bench.hparams import HParam
from rgd_bench.values import POSITIVE, Range
from rgd_bench.registry import ALGORITHMS


@ALGORITHMS.register()
class SGD_HWS(ERM):
    NEEDS_EXAMPLE_IDS = True
    SAMPLES_EXAMPLES = True
    HPARAMS = {
        **OPTIMIZER_HPARAMS,
        "hws_beta": HParam(1.0, lambda r: 10 ** r.uniform(-1, 2), POSITIVE,
                           doc="inverse temperature of softmax(beta * L)"),
        "hws_init_loss": HParam(10.0, lambda r: 10.0,
                                doc="initial loss history: high, so unseen examples come first"),
        "hws_staleness_correction": HParam(False, lambda r: False),
        "hws_is_clip": HParam(10.0, lambda r: 10.0, Range(1),
                              doc="upper clip of the staleness importance weights (>= 1: weights are clipped to at most it)"),
    }

    def __init__(self, input_shape, num_classes, num_domains, hparams):
        super().__init__(input_shape, num_classes, num_domains, hparams)
        self.register_buffer("loss_history", torch.zeros(0))
        # The sampler's centre is part of the state: (L, centre) rebuild the same tree.
        self.register_buffer("sampler_center", torch.zeros((), dtype=torch.float64))
        self.sampler: SoftmaxSampler | None = None

    def bind_training_examples(self, env_sizes):
        n = int(sum(env_sizes))
        self.loss_history = torch.full((n,), float(self.hparams["hws_init_loss"]),
                                       device=self.sampler_center.device)
        self._rebuild_sampler(center=None)

    def _rebuild_sampler(self, center: float | None) -> None:
        self.sampler = SoftmaxSampler(self.loss_history.cpu().numpy(), self.hparams["hws_beta"], center)
        self.sampler_center.fill_(self.sampler.center)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if len(self.loss_history):
            self._rebuild_sampler(center=float(self.sampler_center))

    def sample_examples(self, step, count, generator):
        if self.sampler is None:
            raise RuntimeError("SGD_HWS needs bind_training_examples() before sampling.")
        uniforms = torch.rand(count, generator=generator, dtype=torch.float64).numpy()
        return torch.from_numpy(self.sampler.sample(uniforms))

    def update(self, minibatches, unlabeled=None):
        all_x, all_y, ids = pooled(minibatches)
        losses = F.cross_entropy(self.predict(all_x), all_y, reduction="none")
        fresh = losses.detach()
        old = self.loss_history[ids]
        self.loss_history[ids] = fresh
        self.sampler.update(ids.cpu().numpy(), fresh.cpu().numpy())
        self.sampler_center.fill_(self.sampler.center)
        if self.hparams["hws_staleness_correction"]:
            weights = torch.exp(self.hparams["hws_beta"] * (fresh - old)).clamp(max=self.hparams["hws_is_clip"])
            objective = (weights * losses).mean()
        else:
            objective = losses.mean()
        self.optimizer.zero_grad()
        objective.backward()
        self.optimizer.step()
        return {"loss": losses.mean().item(), "objective": objective.item()}
