"""DomainBed's image datasets, read from DomainBed's on-disk layout.

``<data_dir>/<DATASET_DIR>/<environment>/<class>/<image>``: one ImageFolder per
environment, environments in sorted order, DomainBed's transforms and augmentation
(augmentation only on training environments).
"""
from __future__ import annotations

import os

from PIL import ImageFile
from torchvision import transforms
from torchvision.datasets import ImageFolder

from rgd_bench.datasets.base import MultipleDomainDataset
from rgd_bench.environments import ENVIRONMENTS as ENVIRONMENT_NAMES
from rgd_bench.errors import MissingDataError
from rgd_bench.hparams import HParam
from rgd_bench.networks.hparams import resnet_space
from rgd_bench.registry import DATASETS

ImageFile.LOAD_TRUNCATED_IMAGES = True

IMAGENET_NORMALIZE = transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


def eval_transform() -> transforms.Compose:
    return transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor(), IMAGENET_NORMALIZE])


def augment_transform() -> transforms.Compose:
    return transforms.Compose([
        transforms.RandomResizedCrop(224, scale=(0.7, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.ColorJitter(0.3, 0.3, 0.3, 0.3),
        transforms.RandomGrayscale(),
        transforms.ToTensor(),
        IMAGENET_NORMALIZE,
    ])


class MultipleEnvironmentImageFolder(MultipleDomainDataset):
    """One ImageFolder per sub-directory of ``<data_dir>/<DATASET_DIR>``."""

    DATASET_DIR = ""
    CHECKPOINT_FREQ = 300
    N_WORKERS = min(8, os.cpu_count() or 1)
    INPUT_SHAPE = (3, 224, 224)
    HPARAM_PROFILE = "large"
    NEEDS_DATA_DIR = True
    HPARAMS = {
        "data_augmentation": HParam(True, lambda r: True),
        **resnet_space(),
    }

    def __init__(self, root, test_envs, hparams):
        super().__init__(root, test_envs, hparams)
        name = type(self).__name__
        how = (f"{name} reads DomainBed's layout <data_dir>/{self.DATASET_DIR}/<environment>/<class>/<image>. "
               f"Get it with DomainBed's `python -m domainbed.scripts.download --data_dir DATA_DIR` "
               f"on a machine with internet access.")
        if root is None:
            raise MissingDataError(f"--data_dir is required for {name}. {how}")
        directory = os.path.join(root, self.DATASET_DIR)
        if not os.path.isdir(directory):
            raise MissingDataError(f"No directory {directory!r}. {how}")
        environments = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
        if len(environments) != len(self.ENVIRONMENTS):
            raise MissingDataError(
                f"{directory!r} holds {len(environments)} environment folders ({', '.join(environments)}); "
                f"{name} has {len(self.ENVIRONMENTS)} ({', '.join(self.ENVIRONMENTS)}). {how}"
            )
        for i, environment in enumerate(environments):
            augment = hparams["data_augmentation"] and i not in test_envs
            transform = augment_transform() if augment else eval_transform()
            self.datasets.append(ImageFolder(os.path.join(directory, environment), transform=transform))
        self.input_shape = self.INPUT_SHAPE
        self.num_classes = len(self.datasets[-1].classes)


@DATASETS.register()
class VLCS(MultipleEnvironmentImageFolder):
    ENVIRONMENTS = ENVIRONMENT_NAMES["VLCS"]
    DATASET_DIR = "VLCS"


@DATASETS.register()
class PACS(MultipleEnvironmentImageFolder):
    ENVIRONMENTS = ENVIRONMENT_NAMES["PACS"]
    DATASET_DIR = "PACS"


@DATASETS.register()
class OfficeHome(MultipleEnvironmentImageFolder):
    ENVIRONMENTS = ENVIRONMENT_NAMES["OfficeHome"]
    DATASET_DIR = "office_home"


@DATASETS.register()
class TerraIncognita(MultipleEnvironmentImageFolder):
    ENVIRONMENTS = ENVIRONMENT_NAMES["TerraIncognita"]
    DATASET_DIR = "terra_incognita"


@DATASETS.register()
class DomainNet(MultipleEnvironmentImageFolder):
    ENVIRONMENTS = ENVIRONMENT_NAMES["DomainNet"]
    DATASET_DIR = "domain_net"
    CHECKPOINT_FREQ = 1000
    HPARAM_PROFILE = "domainnet"
