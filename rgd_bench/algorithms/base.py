"""The algorithm interface (DomainBed's) and the state that resumes a run."""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from rgd_bench import networks
from rgd_bench.hparams import MOMENTUM, HParam

Minibatches = Sequence[tuple[torch.Tensor, torch.Tensor]]


class Algorithm(nn.Module):
    """A domain-generalization method, with DomainBed's interface.

    Subclasses declare their hyperparameters as data in ``HPARAMS`` (merged along the
    class hierarchy; None drops an inherited one) or override ``hparam_space`` for dataset-dependent spaces, and
    implement ``update`` and ``predict``.  Every ``torch.optim.Optimizer`` attribute is
    saved and restored with the training state, so resuming needs no extra code.
    """

    HPARAMS: dict[str, HParam | None] = {}
    # True: each minibatch is (x, y, example_ids), the ids numbering every training
    # example across the training environments (see ``bind_training_examples``).
    NEEDS_EXAMPLE_IDS = False
    # True: the engine asks ``sample_examples`` which examples to train on at each step
    # instead of drawing one uniform minibatch per training environment.
    SAMPLES_EXAMPLES = False
    # True: the protocol calls ``bind_training_labels`` before training (reading every
    # training label may cost a pass over the data, so only when asked).
    NEEDS_TRAINING_LABELS = False
    # Under WILDS's protocol: draw training batches uniformly over groups (WILDS's
    # ``uniform_over_groups``), as WILDS does for its group DRO.
    UNIFORM_OVER_GROUPS = False
    # Under the subpopulation protocol: draw training batches uniformly over groups
    # (SubpopBench's ``group_balanced``, which it sets for its ReSample only).
    GROUP_BALANCED = False

    def __init__(self, input_shape: Sequence[int], num_classes: int, num_domains: int,
                 hparams: dict[str, Any]):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.num_domains = num_domains
        self.hparams = hparams
        # Set by WILDS's protocol: each minibatch is one group of a single batch, which
        # WILDS's algorithms pass through the network in one forward (DomainBed's pass
        # each training environment's minibatch separately).
        self.forward_groups_together = False

    @classmethod
    def hparam_space(cls, dataset_cls: type) -> dict[str, HParam]:
        space: dict[str, HParam] = {}
        for klass in reversed(cls.__mro__):
            space.update(klass.__dict__.get("HPARAMS", {}))
        # A subclass declares None for an inherited hyperparameter that it does not use.
        return {name: hp for name, hp in space.items() if hp is not None}

    def update(self, minibatches: Minibatches, unlabeled=None) -> dict[str, float]:
        """One training step on one minibatch per training environment."""
        raise NotImplementedError

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def bind_training_examples(self, env_sizes: Sequence[int]) -> None:
        """Called once before training (and before a checkpoint is restored) with the
        number of training examples of each training environment.  Example ids run
        from 0 to ``sum(env_sizes) - 1``, environment after environment."""

    def bind_total_steps(self, total_steps: int) -> None:
        """Called once before training (and before a checkpoint is restored) with the number
        of steps the run will take, for algorithms whose schedule depends on it (JTT)."""

    def bind_training_labels(self, labels: Sequence[torch.Tensor]) -> None:
        """With ``NEEDS_TRAINING_LABELS``: the labels of each training environment's examples,
        called once after ``bind_training_examples``."""

    def sample_examples(self, step: int, count: int, generator: torch.Generator) -> torch.Tensor:
        """Ids of the ``count`` examples to train on at ``step`` (``SAMPLES_EXAMPLES``).
        ``generator`` is seeded from (seed, step), so draws survive a resume."""
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


def pooled(minibatches: Minibatches) -> tuple[torch.Tensor, ...]:
    """Concatenate the minibatches' fields: (all_x, all_y[, all_ids])."""
    return tuple(torch.cat(field) for field in zip(*minibatches))


def domain_labels(minibatches: Minibatches) -> torch.Tensor:
    """For each pooled example, the position of its minibatch (its training domain)."""
    return torch.cat([torch.full((len(batch[1]),), m, dtype=torch.long, device=batch[1].device)
                      for m, batch in enumerate(minibatches)])


OPTIMIZER_HPARAMS = {
    "optimizer": HParam("adam", lambda r: "adam", choices=("adam", "sgd"),
                        doc="adam (DomainBed's default) or sgd"),
    "momentum": HParam(0.9, lambda r: float(r.choice([0.0, 0.9])), MOMENTUM, doc="SGD momentum (ignored by adam)"),
}


def make_optimizer(parameters, hparams: dict[str, Any]) -> torch.optim.Optimizer:
    """Adam (DomainBed's choice) or SGD, by the ``optimizer`` hyperparameter."""
    if hparams.get("optimizer", "adam") == "sgd":
        return torch.optim.SGD(parameters, lr=hparams["lr"], momentum=hparams["momentum"],
                               weight_decay=hparams["weight_decay"])
    return torch.optim.Adam(parameters, lr=hparams["lr"], weight_decay=hparams["weight_decay"])


def build_network(input_shape: Sequence[int], num_classes: int, hparams: dict[str, Any]):
    """Featurizer + classifier for the input shape, as DomainBed's ERM builds them."""
    featurizer = networks.Featurizer(input_shape, hparams)
    classifier = networks.Classifier(featurizer.n_outputs, num_classes, hparams["nonlinear_classifier"])
    return featurizer, classifier
