"""The hyperparameters that the networks read, declared once (torch-free).

Datasets build their spaces from these (``HPARAMS = mlp_space()``, ...); the networks in
``rgd_bench.networks`` read the values.  Drawn as DomainBed draws them (see
``rgd_bench.hparams``): each value from its own seed, so the order here changes nothing.
"""
from __future__ import annotations

from rgd_bench.hparams import DROPOUT, HParam
from rgd_bench.values import Range


def mlp_space() -> dict[str, HParam]:
    """The MLP featurizer's shape (``networks.MLP``), as DomainBed draws it; widths and depths
    bounded so that a typo fails at once instead of exhausting memory."""
    return {
        "mlp_width": HParam(64, lambda r: int(2 ** r.uniform(5, 8)), Range(1, 16384)),
        "mlp_depth": HParam(3, lambda r: int(r.choice([2, 3, 4])), Range(2, 64)),
        "mlp_dropout": HParam(0.0, lambda r: float(r.choice([0.0, 0.1, 0.5])), DROPOUT),
    }


def image_featurizer_space() -> dict[str, HParam]:
    """For 28x28 images: DomainBed's MNIST_CNN (the default) or, for CPU-sized runs, an MLP on
    the flattened pixels (shaped by ``mlp_space``)."""
    return {
        "featurizer": HParam("cnn", lambda r: "cnn", choices=("cnn", "mlp"),
                             doc="cnn: DomainBed's MNIST_CNN; mlp: an MLP on the flattened pixels"),
        **mlp_space(),
    }


def resnet_space(pretrained: bool = True) -> dict[str, HParam]:
    """The ResNet featurizer (``networks.ResNet``) of DomainBed's image datasets: ResNet-50
    (``resnet18`` for the smaller one), ImageNet weights by default (``pretrained``), dropout
    on the features, BatchNorm statistics frozen or not."""
    return {
        "resnet18": HParam(False, lambda r: False),
        "pretrained": HParam(pretrained, lambda r: pretrained,
                             doc="ImageNet weights from the local torch hub cache; false = random init"),
        "resnet_dropout": HParam(0.0, lambda r: float(r.choice([0.0, 0.1, 0.5])), DROPOUT),
        "freeze_bn": HParam(False, lambda r: False),
    }
