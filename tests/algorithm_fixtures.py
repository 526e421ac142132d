"""Tiny algorithms and batches for hand-checked math tests."""
from __future__ import annotations

import copy

import torch

from rgd_bench.hparams import default_hparams

BASE_HPARAMS = {"lr": 1.0, "weight_decay": 0.0, "nonlinear_classifier": False, "batch_size": 2,
                "mlp_width": 4, "mlp_depth": 2, "mlp_dropout": 0.0,
                "optimizer": "sgd", "momentum": 0.0}


def make(cls, seed: int = 0, num_domains: int = 2, **hparams):
    """``cls`` on 3 input features and 2 classes; SGD with lr 1 unless told otherwise, so a
    step moves the parameters by exactly minus the gradient of the objective."""
    torch.manual_seed(seed)
    defaults = default_hparams(cls.hparam_space(None))
    return cls((3,), 2, num_domains, {**defaults, **BASE_HPARAMS, **hparams})


def batches(seed: int = 0, with_ids: bool = False):
    generator = torch.Generator().manual_seed(seed)
    out = [(torch.randn(2, 3, generator=generator), torch.tensor([0, 1]), torch.tensor([0, 1])),
           (torch.randn(2, 3, generator=generator), torch.tensor([1, 1]), torch.tensor([2, 3]))]
    return out if with_ids else [b[:2] for b in out]


def gradient_of(network, objective) -> list[torch.Tensor]:
    """Gradient of ``objective(copy_of_network)`` at the network's current parameters."""
    clone = copy.deepcopy(network)
    clone.zero_grad()
    objective(clone).backward()
    return [p.grad.clone() for p in clone.parameters()]


def parameters_of(algorithm) -> list[torch.Tensor]:
    return [p.detach().clone() for p in algorithm.network.parameters()]
