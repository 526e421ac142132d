"""WILDS datasets in the dataset registry, trained under WILDS's protocol
(``rgd_bench.engine.protocols.wilds``).

Each class carries WILDS's configuration for its dataset (``examples/configs/datasets.py``
of WILDS 2.0.0): the default ``groupby_fields``, the official validation metric, the image
transform, the optimizer, learning rate, weight decay, batch size and number of epochs.
Nothing imports ``wilds`` until a dataset is built, so the registry stays light.

Model: rgd_bench's ResNet-50 (ImageNet weights where WILDS uses them) for every image
dataset.  WILDS uses DenseNet-121 for Camelyon17 and FMoW; rgd_bench does not, and says
so here rather than pretend.  Learning-rate schedulers of the WILDS configs (FMoW's
StepLR, RxRx1's cosine warm-up) are not applied.

Datasets whose models rgd_bench's engine does not build (text, code, graphs, detection,
regression) are explained when named: train them with WILDS's own ``run_expt.py``, where
``rgd_bench.integrations.wilds_examples`` registers RGD, SGD_HWS and ALSO.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

from rgd_bench.datasets.base import MultipleDomainDataset
from rgd_bench.datasets.wilds_transforms import ImageTransform
from rgd_bench.errors import MissingDataError
from rgd_bench.hparams import BATCH_SIZE, MOMENTUM, HParam
from rgd_bench.networks.hparams import mlp_space, resnet_space
from rgd_bench.registry import DATASETS
from rgd_bench.values import NON_NEGATIVE, POSITIVE, Range


def _fixed(value, within: Range | None = None) -> HParam:
    return HParam(value, lambda r: value, within)


def _held_at_default(space: dict[str, HParam]) -> dict[str, HParam]:
    """``space`` with every random draw replaced by the default (WILDS fixes them per dataset)."""
    return {name: dataclasses.replace(hp, sampler=lambda r, value=hp.default: value) for name, hp in space.items()}


def _log_uniform_around(value: float) -> HParam:
    """Random draws within a decade either side of WILDS's value."""
    return HParam(value, lambda r: value * 10 ** r.uniform(-1, 1), POSITIVE)


class WildsBenchmark(MultipleDomainDataset):
    """A WILDS dataset: fixed splits, groups from metadata, the dataset's own ``eval()``."""

    PROTOCOL = "wilds"
    ENVIRONMENTS = ()  # no test environments: WILDS's splits are fixed
    WILDS_NAME = ""
    GROUPBY_FIELDS: tuple[str, ...] = ()
    VAL_METRIC = "acc_avg"
    VAL_METRIC_DECREASING = False
    TRANSFORM: ImageTransform | None = None
    DATASET_KWARGS: dict[str, Any] = {}
    NEEDS_DATA_DIR = True
    N_EPOCHS = 1  # an epoch is a pass over WILDS's train split (rgd_bench.engine.protocols.wilds)
    # Keys of the dataset's space that win over an algorithm's own (WILDS fixes the
    # optimizer per dataset; algorithms only expose it for DomainBed's datasets).
    HPARAMS_OVER_ALGORITHM: tuple[str, ...] = ()

    def __init__(self, root: str | None, test_envs, hparams: dict[str, Any]):
        super().__init__(root, test_envs, hparams)
        from rgd_bench.datasets.wilds_support import load_wilds_dataset

        root_dir = root if root is not None else "data"
        try:
            self.wilds_dataset = load_wilds_dataset(self.WILDS_NAME, root_dir, **self.DATASET_KWARGS)
        except FileNotFoundError as error:
            where = os.path.join(os.path.abspath(root_dir), f"{self.WILDS_NAME}_v<version>")
            raise MissingDataError(
                f"WILDS dataset {self.WILDS_NAME} is not in --data_dir ({where}) and is never "
                f"downloaded at run time: fetch it where there is network with "
                f"wilds.get_dataset('{self.WILDS_NAME}', root_dir=..., download=True) and copy it there "
                f"({type(error).__name__}: {error})") from None
        self.num_classes = self.wilds_dataset.n_classes
        if self.TRANSFORM is not None:
            self.input_shape = (3, *self.TRANSFORM.output_resolution)
        else:
            self.input_shape = tuple(self.wilds_dataset[0][0].shape)

    def transform(self, is_training: bool):
        return None if self.TRANSFORM is None else self.TRANSFORM.build(is_training)


def _image_hparams(optimizer: str, lr: float, weight_decay: float, batch_size: int,
                   pretrained: bool) -> dict[str, HParam]:
    return {
        "optimizer": HParam(optimizer, lambda r: optimizer, choices=("adam", "sgd")),
        "momentum": _fixed(0.9, MOMENTUM),
        "lr": _log_uniform_around(lr),
        "weight_decay": _fixed(weight_decay, NON_NEGATIVE),
        "batch_size": _fixed(batch_size, BATCH_SIZE),
        **_held_at_default(resnet_space(pretrained)),
    }


class WildsImages(WildsBenchmark):
    HPARAM_PROFILE = "large"
    HPARAMS_OVER_ALGORITHM = ("optimizer", "momentum")


@DATASETS.register("waterbirds")
class Waterbirds(WildsImages):
    WILDS_NAME, N_EPOCHS = "waterbirds", 300
    GROUPBY_FIELDS, VAL_METRIC = ("background", "y"), "acc_wg"
    TRANSFORM = ImageTransform("image_resize_and_center_crop", (224, 224), None, 256.0 / 224.0)
    HPARAMS = _image_hparams("sgd", 1e-5, 1.0, 128, True)


@DATASETS.register("celebA")
class CelebA(WildsImages):
    WILDS_NAME, N_EPOCHS = "celebA", 200
    GROUPBY_FIELDS, VAL_METRIC = ("male", "y"), "acc_wg"
    TRANSFORM = ImageTransform("image_base", (178, 218))
    HPARAMS = _image_hparams("sgd", 1e-3, 0.0, 64, True)


@DATASETS.register("camelyon17")
class Camelyon17(WildsImages):
    WILDS_NAME, N_EPOCHS = "camelyon17", 10
    GROUPBY_FIELDS, VAL_METRIC = ("hospital",), "acc_avg"
    TRANSFORM = ImageTransform("image_base", (96, 96), (96, 96))
    HPARAMS = _image_hparams("sgd", 1e-3, 1e-2, 32, False)


@DATASETS.register("iwildcam")
class IWildCam(WildsImages):
    WILDS_NAME, N_EPOCHS = "iwildcam", 12
    GROUPBY_FIELDS, VAL_METRIC = ("location",), "F1-macro_all"
    TRANSFORM = ImageTransform("image_base", None, (448, 448))
    HPARAMS = _image_hparams("adam", 3e-5, 0.0, 16, True)


@DATASETS.register("fmow")
class FMoW(WildsImages):
    WILDS_NAME, N_EPOCHS = "fmow", 60
    GROUPBY_FIELDS, VAL_METRIC = ("year",), "acc_worst_region"
    TRANSFORM = ImageTransform("image_base", (224, 224))
    DATASET_KWARGS = {"seed": 111, "use_ood_val": True}
    HPARAMS = _image_hparams("adam", 1e-4, 0.0, 32, True)


@DATASETS.register("rxrx1")
class RxRx1(WildsImages):
    WILDS_NAME, N_EPOCHS = "rxrx1", 90
    GROUPBY_FIELDS, VAL_METRIC = ("experiment",), "acc_avg"
    TRANSFORM = ImageTransform("rxrx1", (256, 256), (256, 256))
    HPARAMS = _image_hparams("adam", 1e-3, 1e-5, 72, True)


@DATASETS.register("synthetic_waterbirds")
class SyntheticWaterbirdsBenchmark(WildsBenchmark):
    """``rgd_bench.datasets.wilds_synthetic``: made in memory, no --data_dir needed."""

    WILDS_NAME, N_EPOCHS = "synthetic_waterbirds", 20
    GROUPBY_FIELDS, VAL_METRIC = ("background", "y"), "acc_wg"
    NEEDS_DATA_DIR = False
    HPARAMS = {"batch_size": HParam(64, lambda r: int(2 ** r.uniform(5, 8)), BATCH_SIZE), **mlp_space()}


# WILDS datasets whose models the engine does not build, with what to use instead.
_RUN_EXPT = ("train it with WILDS's examples/run_expt.py, where "
             "rgd_bench.integrations.wilds_examples registers RGD, SGD_HWS and ALSO")
NOT_TRAINABLE = {
    "amazon": f"text reviews need a DistilBERT model; {_RUN_EXPT}",
    "civilcomments": f"text comments need a DistilBERT model; {_RUN_EXPT}",
    "yelp": f"text reviews need a BERT model; {_RUN_EXPT}",
    "py150": f"code completion needs a GPT model; {_RUN_EXPT}",
    "ogb-molpcba": f"molecular graphs need a GIN model and multi-task BCE; {_RUN_EXPT}",
    "globalwheat": f"wheat-head detection needs a Faster R-CNN model; {_RUN_EXPT}",
    "poverty": f"asset-wealth regression needs an MSE loss on 8-channel images; {_RUN_EXPT}",
    "bdd100k": f"multi-task driving labels need a multi-task BCE loss; {_RUN_EXPT}",
    "encode": f"genomic tracks need a U-Net and multi-task BCE; {_RUN_EXPT}",
    "sqf": f"its split schemes and precision-at-recall metric need WILDS's own setup; {_RUN_EXPT}",
    "domainnet": "use DomainBed's DomainNet (--dataset DomainNet), or WILDS's run_expt.py",
}
for _name, _why in NOT_TRAINABLE.items():
    DATASETS.explain(_name, f"WILDS dataset '{_name}' is not trained by rgd_bench's engine: {_why}.")
