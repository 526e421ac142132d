"""Featurizers and classifiers (DomainBed's ``networks.py``) and the hyperparameters that shape them.

- ``rgd_bench.networks.hparams``: the declarations of every hyperparameter the networks read
  (``mlp_space``, ``image_featurizer_space``, ``resnet_space``); torch-free, so that sweep
  planning and the datasets' spaces can use them without importing torch.
- ``MLP``, ``FlatMLP``, ``MNIST_CNN``, ``ResNet``, ``Featurizer``, ``Classifier``,
  ``pretrained_resnet_weights``: the torch modules (``rgd_bench.networks._modules``),
  imported on first use, so that importing this package stays torch-free.

May import ``hparams``, ``values`` and ``errors`` only (the ground floor): algorithms and
datasets import it, never the reverse.
"""
from __future__ import annotations

import importlib
from typing import Any

_MODULES = "rgd_bench.networks._modules"
_EXPORTS = ("MLP", "FlatMLP", "MNIST_CNN", "ResNet", "Featurizer", "Classifier", "pretrained_resnet_weights")

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_MODULES), name)
    raise AttributeError(f"module 'rgd_bench.networks' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
