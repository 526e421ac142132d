"""The algorithm interface (DomainBed's) and the state that resumes a run."""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from rgd_bench import networks
from rgd_bench.hparams import HParam

Minibatches = Sequence[tuple[torch.Tensor, torch.Tensor]]


class Algorithm(nn.Module):
    """A domain-generalization method, with DomainBed's interface.

    Subclasses declare their hyperparameters as data in ``HPARAMS`` (merged along the
    class hierarchy) or override ``hparam_space`` for dataset-dependent spaces, and
    implement ``update`` and ``predict``.  Every ``torch.optim.Optimizer`` attribute is
    saved and restored with the training state, so resuming needs no extra code.
    """

    HPARAMS: dict[str, HParam] = {}

    def __init__(self, input_shape: Sequence[int], num_classes: int, num_domains: int,
                 hparams: dict[str, Any]):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.num_domains = num_domains
        self.hparams = hparams

    @classmethod
    def hparam_space(cls, dataset_cls: type) -> dict[str, HParam]:
        space: dict[str, HParam] = {}
        for klass in reversed(cls.__mro__):
            space.update(klass.__dict__.get("HPARAMS", {}))
        return space

    def update(self, minibatches: Minibatches, unlabeled=None) -> dict[str, float]:
        """One training step on one minibatch per training environment."""
        raise NotImplementedError

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {name: value for name, value in vars(self).items()
                if isinstance(value, torch.optim.Optimizer)}

    def training_state(self) -> dict[str, Any]:
        """Everything that resumes training: parameters, buffers, optimizer states."""
        return {
            "model": self.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers().items()},
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state["model"])
        for name, optimizer in self.optimizers().items():
            optimizer.load_state_dict(state["optimizers"][name])


def build_network(input_shape: Sequence[int], num_classes: int, hparams: dict[str, Any]):
    """Featurizer + classifier for the input shape, as DomainBed's ERM builds them."""
    featurizer = networks.Featurizer(input_shape, hparams)
    classifier = networks.Classifier(featurizer.n_outputs, num_classes, hparams["nonlinear_classifier"])
    return featurizer, classifier
