"""Just Train Twice (Liu et al., "Just train twice: improving group robustness without
training group information", ICML 2021), as SubpopBench's ``JTT``: two stages in one run.

1. For the first ``first_stage_step_frac`` of the run's steps, ERM trains an identification
   network.
2. Then a second network, freshly initialised, trains on the same batches with the losses of
   the examples the (now frozen) identification network gets wrong weighted by ``jtt_lambda``
   (lambda_up), the others by 1.

The error set is fixed once per example: the first time an example comes up in the second
stage, the identification network (in eval mode) classifies it and the verdict is stored in the
``error_set`` buffer, which the checkpoint carries, so a resumed run up-weights the same
examples.  SubpopBench re-classifies every time; with a frozen network and no augmentation the
two are the same, with augmentation this follows the paper (one error set).  The paper
up-samples the error set; SubpopBench up-weights the loss, as here.  Predictions come from the
network of the current stage.  Hyperparameters: SubpopBench's names, defaults and ranges.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from rgd_bench.algorithms.base import make_optimizer, pooled
from rgd_bench.algorithms.erm import ERM
from rgd_bench.hparams import HParam
from rgd_bench.registry import ALGORITHMS
from rgd_bench.values import OPEN_UNIT_INTERVAL, POSITIVE

UNKNOWN, RIGHT, WRONG = -1, 0, 1


@ALGORITHMS.register()
class JTT(ERM):
    NEEDS_EXAMPLE_IDS = True
    HPARAMS = {
        "first_stage_step_frac": HParam(0.5, lambda r: r.uniform(0.2, 0.8), OPEN_UNIT_INTERVAL,
                                        doc="the share of the run's steps that trains the identification network"),
        "jtt_lambda": HParam(10.0, lambda r: 10 ** r.uniform(0, 2.5), POSITIVE,
                             doc="lambda_up: the weight of the first stage's errors in the second"),
    }

    def __init__(self, input_shape, num_classes, num_domains, hparams):
        super().__init__(input_shape, num_classes, num_domains, hparams)
        # ERM's network trains in the first stage; the final one is built after it, as
        # SubpopBench builds its second model.
        self.identification_network, self.network = self.network, None
        self.identification_optimizer = self.optimizer
        self.featurizer, self.classifier = self.build_network(input_shape, num_classes, hparams)
        self.network = nn.Sequential(self.featurizer, self.classifier)
        self.optimizer = make_optimizer(self.network.parameters(), hparams)
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self.register_buffer("error_set", torch.zeros(0, dtype=torch.int8))
        self.switch_step: int | None = None

    def bind_training_examples(self, env_sizes):
        self.error_set = torch.full((int(sum(env_sizes)),), UNKNOWN, dtype=torch.int8,
                                    device=self.error_set.device)

    def bind_total_steps(self, total_steps):
        self.switch_step = int(self.hparams["first_stage_step_frac"] * total_steps)

    @property
    def in_first_stage(self) -> bool:
        if self.switch_step is None:
            raise ValueError("JTT needs the run's length: call bind_total_steps(steps) before training "
                             "(the engine does).")
        return int(self.steps_done) < self.switch_step

    def update(self, minibatches, unlabeled=None):
        all_x, all_y, ids = pooled(minibatches)
        first = self.in_first_stage
        if first:
            network, optimizer, weights = self.identification_network, self.identification_optimizer, None
        else:
            network, optimizer = self.network, self.optimizer
            wrong = self._errors(all_x, all_y, ids)
            weights = torch.where(wrong, self.hparams["jtt_lambda"], 1.0)
        losses = F.cross_entropy(network(all_x), all_y, reduction="none")
        objective = losses.mean() if weights is None else (weights * losses).mean()
        optimizer.zero_grad()
        objective.backward()
        optimizer.step()
        self.steps_done += 1
        values = {"loss": losses.mean().item(), "stage": 1.0 if first else 2.0}
        if not first:
            values["upweighted_share"] = wrong.float().mean().item()
        return values

    def _errors(self, x, y, ids) -> torch.Tensor:
        """Whether the identification network gets each example wrong, each decided once."""
        unknown = self.error_set[ids] == UNKNOWN
        if bool(unknown.any()):
            was_training = self.identification_network.training
            self.identification_network.eval()
            with torch.no_grad():
                predicted = self.identification_network(x[unknown]).argmax(dim=1)
            self.identification_network.train(was_training)
            verdict = torch.where(predicted != y[unknown], WRONG, RIGHT).to(torch.int8)
            self.error_set[ids[unknown]] = verdict
        return self.error_set[ids] == WRONG

    def predict(self, x):
        network = self.identification_network if self.in_first_stage else self.network
        return network(x)
