"""Featurizers and classifiers, as DomainBed's ``networks.py`` (torch; re-exported lazily by
``rgd_bench.networks``).

MLP for vectors, MNIST_CNN for 28x28 images (or an MLP on their pixels, ``featurizer``),
ResNet-18/50 (torchvision) for 224x224 images; a linear or nonlinear classifier on top.
The hyperparameters they read are declared in ``rgd_bench.networks.hparams``.
"""
from __future__ import annotations

import math
import os
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from rgd_bench.errors import MissingDataError


class MLP(nn.Module):
    """Just an MLP (``mlp_width``, ``mlp_depth``, ``mlp_dropout``)."""

    def __init__(self, n_inputs: int, n_outputs: int, hparams: dict[str, Any]):
        super().__init__()
        self.input = nn.Linear(n_inputs, hparams["mlp_width"])
        self.dropout = nn.Dropout(hparams["mlp_dropout"])
        self.hiddens = nn.ModuleList([
            nn.Linear(hparams["mlp_width"], hparams["mlp_width"])
            for _ in range(hparams["mlp_depth"] - 2)
        ])
        self.output = nn.Linear(hparams["mlp_width"], n_outputs)
        self.n_outputs = n_outputs

    def forward(self, x):
        x = F.relu(self.dropout(self.input(x)))
        for hidden in self.hiddens:
            x = F.relu(self.dropout(hidden(x)))
        return self.output(x)


class FlatMLP(MLP):
    """An MLP on the flattened input (``featurizer = "mlp"`` for images)."""

    def forward(self, x):
        return super().forward(x.flatten(1))


class MNIST_CNN(nn.Module):
    """DomainBed's hand-tuned CNN for 28x28 inputs: 4 convolutions with GroupNorm."""

    n_outputs = 128

    def __init__(self, input_shape: Sequence[int]):
        super().__init__()
        self.conv1 = nn.Conv2d(input_shape[0], 64, 3, 1, padding=1)
        self.conv2 = nn.Conv2d(64, 128, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(128, 128, 3, 1, padding=1)
        self.conv4 = nn.Conv2d(128, 128, 3, 1, padding=1)
        self.bn0 = nn.GroupNorm(8, 64)
        self.bn1 = nn.GroupNorm(8, 128)
        self.bn2 = nn.GroupNorm(8, 128)
        self.bn3 = nn.GroupNorm(8, 128)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, x):
        x = self.bn0(F.relu(self.conv1(x)))
        x = self.bn1(F.relu(self.conv2(x)))
        x = self.bn2(F.relu(self.conv3(x)))
        x = self.bn3(F.relu(self.conv4(x)))
        return self.avgpool(x).view(len(x), -1)


def pretrained_resnet_weights(arch: str) -> dict[str, torch.Tensor]:
    """ImageNet weights of torchvision's ``arch`` from the local torch hub cache.

    Never touches the network: when the file is not cached, fail at once with the path
    to put it at, instead of hanging on a download that cannot succeed offline.
    """
    weights = {"resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
               "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V1}[arch]
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    if not os.path.isfile(cached):
        raise MissingDataError(
            f"Pretrained {arch} weights are not in the local cache ({cached}) and are never "
            f"downloaded at run time. Copy {weights.url} there (or set TORCH_HOME), or train "
            f"from random initialisation with --hparams '{{\"pretrained\": false}}'."
        )
    return torch.load(cached, map_location="cpu", weights_only=True)


class ResNet(nn.Module):
    """ResNet-18/50 with the final layer removed (``resnet18``, ``pretrained``,
    ``resnet_dropout``, ``freeze_bn``)."""

    def __init__(self, input_shape: Sequence[int], hparams: dict[str, Any]):
        super().__init__()
        arch = "resnet18" if hparams["resnet18"] else "resnet50"
        self.network = getattr(torchvision.models, arch)(weights=None)
        if hparams["pretrained"]:
            self.network.load_state_dict(pretrained_resnet_weights(arch))
        self.n_outputs = self.network.fc.in_features

        channels = input_shape[0]
        if channels != 3:  # adapt the first convolution, reusing RGB filters cyclically
            rgb = self.network.conv1.weight.data.clone()
            self.network.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            for i in range(channels):
                self.network.conv1.weight.data[:, i] = rgb[:, i % 3]

        del self.network.fc
        self.network.fc = nn.Identity()
        self.freeze_bn_layers = hparams["freeze_bn"]
        if self.freeze_bn_layers:
            self.freeze_bn()
        self.dropout = nn.Dropout(hparams["resnet_dropout"])

    def forward(self, x):
        return self.dropout(self.network(x))

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_bn_layers:
            self.freeze_bn()
        return self

    def freeze_bn(self) -> None:
        for module in self.network.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()


def Featurizer(input_shape: Sequence[int], hparams: dict[str, Any]) -> nn.Module:
    """Pick the featurizer for an input shape, as DomainBed does; any image of at least
    64x64 (WILDS's 96x96 to 448x448) gets the ResNet too."""
    input_shape = tuple(input_shape)
    if len(input_shape) == 1:
        return MLP(input_shape[0], hparams["mlp_width"], hparams)
    if input_shape[1:3] == (28, 28):
        if hparams.get("featurizer", "cnn") == "mlp":
            return FlatMLP(math.prod(input_shape), hparams["mlp_width"], hparams)
        return MNIST_CNN(input_shape)
    if len(input_shape) == 3 and min(input_shape[1:]) >= 64:
        return ResNet(input_shape, hparams)
    raise ValueError(
        f"No featurizer for input shape {input_shape}; supported: (d,), (c, 28, 28), (c, H, W) with H, W >= 64."
    )


def Classifier(in_features: int, out_features: int, is_nonlinear: bool = False) -> nn.Module:
    if is_nonlinear:
        return nn.Sequential(
            nn.Linear(in_features, in_features // 2), nn.ReLU(),
            nn.Linear(in_features // 2, in_features // 4), nn.ReLU(),
            nn.Linear(in_features // 4, out_features),
        )
    return nn.Linear(in_features, out_features)
