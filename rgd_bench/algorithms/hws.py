"""SGD with hardness weighted sampling (Fidon et al., "SGD with hardness weighted
sampling for distributionally robust deep learning", ICLR 2020 submission, Algorithm 1).

A loss history ``L`` covers every training example, across environments.  As in
Algorithm 1, training starts with one warm-start epoch of plain SGD over a random
permutation of all examples that records every example's loss (``hws_warm_start``,
the default).  Then each step draws the examples of the pooled batch i.i.d. from
``softmax(beta * L)``, computes their losses, stores them back into ``L`` (detached)
and takes a mean-loss step.  The draw is a sum-tree walk, O(b log n), so a step costs
the same for 10^4 or 10^7 examples.  The shared machinery is ``_hardness.HardnessHistory``.

The example ids travel with the batch (``NEEDS_EXAMPLE_IDS``): ``L`` is updated for the
examples that were actually trained on, whatever a loader prefetched.

Optional staleness correction (``hws_staleness_correction``): the draw used ``L_old``
while the step sees the fresh loss ``l``, so each example's loss is weighted by the
importance ratio ``w_i = exp(beta * (l_i - L_old_i))`` clipped to
``[hws_is_clip_min, hws_is_clip_max]`` = [0.1, 10] as in the author's code (the lower
bound keeps every drawn example in the step).

Where this departs from the paper (each a hyperparameter):

- ``hws_warm_start = false`` skips the warm-start epoch and starts every entry at
  ``hws_init_loss`` (10), so that unseen examples are drawn first: at small beta they are
  only somewhat likelier (about 2x at beta 0.1 against losses near 2.3).
- The optimizer defaults to DomainBed's (Adam, lr 1e-3) so that SGD-HWS is compared with
  the other methods under one protocol; the paper trains with SGD, lr 0.01, no momentum,
  no weight decay: ``PAPER_HPARAMS`` below, used by ``python -m rgd_bench.paper_checks``.
- Draws are with replacement, as Algorithm 1 writes them (the author's code samples
  without replacement within a batch).
"""
from __future__ import annotations

import torch.nn.functional as F

from rgd_bench.algorithms._hardness import HardnessHistory
from rgd_bench.algorithms.base import pooled
from rgd_bench.algorithms.erm import ERM
from rgd_bench.hparams import HParam
from rgd_bench.values import POSITIVE, Range
from rgd_bench.registry import ALGORITHMS

# The paper's optimizer (Section 5: SGD, learning rate 0.01, no momentum, no weight decay).
PAPER_HPARAMS = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.0, "weight_decay": 0.0}

HWS_HPARAMS = {
    "hws_beta": HParam(1.0, lambda r: 10 ** r.uniform(-1, 2), POSITIVE,
                       doc="inverse temperature of softmax(beta * L)"),
    "hws_warm_start": HParam(True, lambda r: True,
                             doc="Algorithm 1's warm start: one epoch of plain SGD records every loss first"),
    "hws_init_loss": HParam(10.0, lambda r: 10.0,
                            doc="initial loss history (what unseen examples weigh without the warm start)"),
    "hws_staleness_correction": HParam(False, lambda r: False,
                                       doc="weigh each loss by its clipped importance ratio exp(beta (l - L_old))"),
    "hws_is_clip_min": HParam(0.1, lambda r: 0.1, Range(0, 1, low_open=True),
                              doc="lower clip of the importance weights (the author's 0.1)"),
    "hws_is_clip_max": HParam(10.0, lambda r: 10.0, Range(1),
                              doc="upper clip of the importance weights (the author's 10)"),
}


def history_options(hparams) -> dict:
    """``HardnessHistory.init_history``'s arguments from the hyperparameters above."""
    return dict(beta=hparams["hws_beta"], init_loss=hparams["hws_init_loss"],
                warm_start=hparams["hws_warm_start"], staleness_correction=hparams["hws_staleness_correction"],
                clip=(hparams["hws_is_clip_min"], hparams["hws_is_clip_max"]))


@ALGORITHMS.register()
class SGD_HWS(HardnessHistory, ERM):
    NEEDS_EXAMPLE_IDS = True
    SAMPLES_EXAMPLES = True
    HPARAMS = HWS_HPARAMS

    def __init__(self, input_shape, num_classes, num_domains, hparams):
        super().__init__(input_shape, num_classes, num_domains, hparams)
        self.init_history(**history_options(hparams))

    def bind_training_examples(self, env_sizes):
        self.bind_history(sum(env_sizes))

    def sample_examples(self, step, count, generator):
        return self.draw(count, generator)

    def update(self, minibatches, unlabeled=None):
        all_x, all_y, ids = pooled(minibatches)
        losses = F.cross_entropy(self.predict(all_x), all_y, reduction="none")
        weights = self.record(ids, losses)
        objective = (weights * losses).mean()
        self.optimizer.zero_grad()
        objective.backward()
        self.optimizer.step()
        return {"loss": losses.mean().item(), "objective": objective.item()}
